// graphviz-builder ships typings that its package.json "exports" map does not expose to
// NodeNext resolution; this declares the part of its API that src/report uses.
declare module 'graphviz-builder' {
  type Value = string | number | boolean;
  type Attributes = Record<string, Value>;
  interface Node {
    set(name: string, value: Value): Node;
  }
  interface Edge {
    set(name: string, value: Value): Edge;
  }
  interface Graph {
    set(name: string, value: Value): Graph;
    setNodeAttribut(name: string, value: Value): void;
    setEdgeAttribut(name: string, value: Value): void;
    addNode(id: string, attrs?: Attributes): Node;
    addEdge(from: string | Node, to: string | Node, attrs?: Attributes): Edge;
    addCluster(id: string): Graph;
    to_dot(): string;
  }
  function digraph(id: string, isStrict?: boolean): Graph;
}
