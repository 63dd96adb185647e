// Sizes of a tools/list answer: all of it, and the part a model is shown on every turn (name,
// description, input schema). Output schemas and annotations go to the client, not the model.
const bytes = (v) => Buffer.byteLength(JSON.stringify(v));

export function surfaceSize(tools) {
  const total = bytes(tools);
  const byTool = tools.map((t) => ({
    name: t.name,
    model: bytes({ name: t.name, description: t.description, inputSchema: t.inputSchema }),
  }));
  const model = byTool.reduce((sum, t) => sum + t.model, 0);
  const n = tools.length || 1;
  const largest = [...byTool].sort((a, b) => b.model - a.model).slice(0, 3);
  return {
    tools: tools.length,
    total,
    perTool: total / n,
    modelPerTool: model / n,
    restPerTool: (total - model) / n,
    largest,
  };
}
