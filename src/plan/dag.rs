//! The step dag: which step waits for which, in a petgraph graph.
//!
//! Nodes are step indexes in manifest order; an edge `a -> b` means `b` needs
//! `a` to finish first. Orders are deterministic: among steps that are ready at
//! the same time, the one written first in the manifest comes first, so plans
//! are stable across runs and reviewable in pull requests.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

/// Why one step waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EdgeReason {
    /// Listed in the step's `needs`.
    Needs,
    /// The step acts on the group set the other step selects.
    GroupSet,
    /// The step acts on the device set the other step selects.
    DeviceSet,
}

impl EdgeReason {
    /// How the reason reads in plan output.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Needs => "needs",
            Self::GroupSet => "group set",
            Self::DeviceSet => "device set",
        }
    }
}

/// The dependency graph of a workflow's steps.
#[derive(Debug, Clone)]
pub struct Dag {
    graph: DiGraph<usize, EdgeReason>,
}

impl Dag {
    /// A graph of `steps` steps without edges.
    pub fn with_steps(steps: usize) -> Self {
        let mut graph = DiGraph::with_capacity(steps, steps * 3);
        for index in 0..steps {
            graph.add_node(index);
        }
        Self { graph }
    }

    /// Records that `dependent` waits for `dependency`. A repeated edge is kept
    /// once, with the first reason given. The check looks at the dependent's
    /// few incoming edges, not at a popular step's many outgoing ones.
    pub fn add_edge(&mut self, dependency: usize, dependent: usize, reason: EdgeReason) {
        let (from, to) = (NodeIndex::new(dependency), NodeIndex::new(dependent));
        let known = self
            .graph
            .neighbors_directed(to, Direction::Incoming)
            .any(|source| source == from);
        if !known {
            self.graph.add_edge(from, to, reason);
        }
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The steps `step` waits for, with the reason, in manifest order.
    pub fn dependencies(&self, step: usize) -> Vec<(usize, EdgeReason)> {
        let mut found: Vec<(usize, EdgeReason)> = self
            .graph
            .edges_directed(NodeIndex::new(step), Direction::Incoming)
            .map(|edge| {
                (
                    petgraph::visit::EdgeRef::source(&edge).index(),
                    *edge.weight(),
                )
            })
            .collect();
        found.sort_unstable();
        found
    }

    /// Every edge as `(dependency, dependent, reason)`, sorted.
    pub fn edges(&self) -> Vec<(usize, usize, EdgeReason)> {
        let mut edges: Vec<_> = self
            .graph
            .raw_edges()
            .iter()
            .map(|edge| (edge.source().index(), edge.target().index(), edge.weight))
            .collect();
        edges.sort_unstable();
        edges
    }

    /// Every cycle, each as the steps along it in "needs" direction, starting and
    /// ending at its first step in manifest order: `[a, b, a]` means `a` needs `b`
    /// and `b` needs `a`.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut cycles: Vec<Vec<usize>> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|component| component.len() > 1 || self.has_self_loop(component[0]))
            .map(|component| self.cycle_within(&component))
            .collect();
        cycles.sort_unstable();
        cycles
    }

    fn has_self_loop(&self, node: NodeIndex) -> bool {
        self.graph.find_edge(node, node).is_some()
    }

    /// The shortest cycle through the component's first step, following needs.
    fn cycle_within(&self, component: &[NodeIndex]) -> Vec<usize> {
        let start = *component.iter().min().expect("components are not empty");
        let mut came_from: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let mut needed: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(node, Direction::Incoming)
                .collect();
            needed.sort_unstable();
            for next in needed {
                if next == start {
                    return unwind(&came_from, node, start);
                }
                if component.contains(&next) && !came_from.contains_key(&next) {
                    came_from.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        vec![start.index(), start.index()]
    }

    /// A topological order: every step after the steps it needs; ties broken by
    /// manifest order. Steps on a cycle are left out.
    pub fn order(&self) -> Vec<usize> {
        let mut waiting: Vec<usize> = (0..self.len())
            .map(|step| {
                self.graph
                    .neighbors_directed(NodeIndex::new(step), Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> = (0..self.len())
            .filter(|step| waiting[*step] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(Reverse(step)) = ready.pop() {
            order.push(step);
            for next in self
                .graph
                .neighbors_directed(NodeIndex::new(step), Direction::Outgoing)
            {
                waiting[next.index()] -= 1;
                if waiting[next.index()] == 0 {
                    ready.push(Reverse(next.index()));
                }
            }
        }
        order
    }

    /// The steps grouped into layers: layer 0 needs nothing, layer `n` needs only
    /// steps of earlier layers. Steps of one layer can run at the same time.
    pub fn layers(&self) -> Vec<Vec<usize>> {
        let mut depth = vec![0usize; self.len()];
        let mut layers: Vec<Vec<usize>> = Vec::new();
        for step in self.order() {
            let layer = self
                .graph
                .neighbors_directed(NodeIndex::new(step), Direction::Incoming)
                .map(|dependency| depth[dependency.index()] + 1)
                .max()
                .unwrap_or(0);
            depth[step] = layer;
            if layers.len() <= layer {
                layers.resize_with(layer + 1, Vec::new);
            }
            layers[layer].push(step);
        }
        for layer in &mut layers {
            layer.sort_unstable();
        }
        layers
    }
}

/// Walks the BFS parents back from `last` to `start` and closes the cycle.
fn unwind(
    came_from: &HashMap<NodeIndex, NodeIndex>,
    last: NodeIndex,
    start: NodeIndex,
) -> Vec<usize> {
    let mut path = vec![last];
    let mut node = last;
    while node != start {
        node = came_from[&node];
        path.push(node);
    }
    path.reverse();
    path.push(start);
    path.into_iter().map(NodeIndex::index).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(steps: usize, edges: &[(usize, usize)]) -> Dag {
        let mut dag = Dag::with_steps(steps);
        for (from, to) in edges {
            dag.add_edge(*from, *to, EdgeReason::Needs);
        }
        dag
    }

    #[test]
    fn orders_by_dependencies_then_manifest_order() {
        let dag = dag(4, &[(3, 0), (2, 1)]);
        assert_eq!(dag.order(), [2, 1, 3, 0]);
        assert_eq!(dag.layers(), [vec![2, 3], vec![0, 1]]);
    }

    #[test]
    fn finds_cycles_in_needs_direction() {
        // 0 needs 1, 1 needs 2, 2 needs 0: edges point from dependency to dependent.
        let dag = dag(4, &[(1, 0), (2, 1), (0, 2), (3, 3)]);
        assert_eq!(dag.cycles(), [vec![0, 1, 2, 0], vec![3, 3]]);
        assert_eq!(dag.order(), Vec::<usize>::new());
    }

    #[test]
    fn reports_the_shortest_cycle_through_the_first_step() {
        // 0 needs 1 and 2; 2 needs 0; 1 needs 2.
        let dag = dag(3, &[(1, 0), (2, 0), (0, 2), (2, 1)]);
        assert_eq!(dag.cycles(), [vec![0, 2, 0]]);
    }
}
