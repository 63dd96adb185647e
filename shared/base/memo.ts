// A pure function of an object, computed once per object (held weakly: it goes with its key).

/** `make`, called once per key; later calls with the same key get the first result. */
export function oncePer<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const memo = new WeakMap<K, V>();
  return (key) => {
    if (!memo.has(key)) memo.set(key, make(key));
    return memo.get(key) as V;
  };
}
