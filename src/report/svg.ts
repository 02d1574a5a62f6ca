import type { Graphviz } from '@hpcc-js/wasm-graphviz';

let graphviz: Promise<Graphviz> | undefined;

/**
 * Renders Graphviz DOT to SVG in-process with Graphviz compiled to WebAssembly
 * (@hpcc-js/wasm-graphviz), so no system Graphviz is needed. The module (about 1 MB) is loaded
 * on first use only; loading takes about 0.2 s, each graph then a few milliseconds.
 */
export async function dotToSvg(dot: string): Promise<string> {
  graphviz ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load());
  return (await graphviz).dot(dot, 'svg');
}
