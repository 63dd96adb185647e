// What a step of the call path is, and how the path is put together so that its order is checked
// by the compiler: each step declares the fields it needs and the ones it adds (`Grown`, in
// ./in-flight.ts), and `callPath().next(step)` accepts a step only when every field it needs was added
// by a step before it.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { CallWith, Field, InFlightCall } from './in-flight.js';

/** A step's answer: the result that ends the call, or nothing to let it go on. */
export type Ends = CallToolResult | undefined;

export interface Step<N extends Field = Field, A extends Field = Field> {
  readonly name: string;
  /** fields earlier steps must have added */
  readonly needs: readonly N[];
  /** fields this step sets whenever it lets the call go on */
  readonly adds: readonly A[];
  readonly run: (c: CallWith<N>) => Ends | Promise<Ends>;
}

/** Declares a step: its name, what it needs and adds, and its one job. */
export function step<N extends Field = never, A extends Field = never>(
  name: string,
  deps: { needs?: readonly N[]; adds?: readonly A[] },
  run: (c: CallWith<N>) => Ends | Promise<Ends>,
): Step<N, A> {
  return { name, needs: deps.needs ?? [], adds: deps.adds ?? [], run };
}

/** One place in the path: the step, and why it stands there (docs/architecture.md lists these). */
export interface Stage {
  step: Step<any, any>;
  why: string;
}

/** The call path being put together: `Have` is what the steps so far have added. */
export interface Path<Have extends Field> {
  /** the next step: it compiles only if it needs nothing that no earlier step added */
  next<N extends Have, A extends Field = never>(s: Step<N, A>, why: string): Path<Have | A>;
  readonly stages: readonly Stage[];
}

/** An empty path; `.next(step, why)` adds a stage (not `then`: an object with one is awaited as a promise). */
export function callPath(): Path<never> {
  const grow = (stages: readonly Stage[]): Path<any> => ({
    stages,
    next: (s, why) => grow([...stages, { step: s, why }]),
  });
  return grow([]);
}

/** Runs one stage; a step that lets the call go on without what it declared it adds is a fault of the fleet's own. */
export async function runStage(stage: Stage, c: InFlightCall): Promise<Ends> {
  const done = await stage.step.run(c as CallWith<never>);
  if (done) return done;
  const missing = stage.step.adds.filter((f: Field) => c[f] === undefined);
  if (missing.length) throw new Error(`step ${stage.step.name} let the call go on without ${missing.join(', ')}`);
  return undefined;
}
