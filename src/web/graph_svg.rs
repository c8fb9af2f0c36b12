//! A run's steps drawn as a graph, in SVG, by bulkops itself: one column per
//! layer of the plan (a step's column comes after every step it needs), each
//! step a box coloured by its state with `rows done / total`, an arrow from
//! each step to the steps that need it.

use maud::{Markup, html};

/// A step as the graph shows it.
pub(super) struct Node {
    pub id: String,
    pub kind: &'static str,
    /// `pending`, `running`, `finished`, `failed`, `skipped` or `cancelled`.
    pub state: String,
    /// Rows done and the rows planned, for steps that process rows.
    pub rows: Option<(u64, Option<u64>)>,
}

const WIDTH: u32 = 200;
const HEIGHT: u32 = 58;
const GAP_X: u32 = 56;
const GAP_Y: u32 = 18;
const MARGIN: u32 = 12;

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX / 4)
}

/// The top-left corner of each step's box.
fn places(count: usize, layers: &[Vec<usize>]) -> Vec<(u32, u32)> {
    let mut places = vec![(MARGIN, MARGIN); count];
    for (column, layer) in layers.iter().enumerate() {
        for (row, step) in layer.iter().enumerate() {
            if let Some(place) = places.get_mut(*step) {
                *place = (
                    MARGIN + to_u32(column) * (WIDTH + GAP_X),
                    MARGIN + to_u32(row) * (HEIGHT + GAP_Y),
                );
            }
        }
    }
    places
}

fn rows_label(rows: Option<(u64, Option<u64>)>) -> String {
    match rows {
        Some((done, Some(total))) => format!("{done} / {total} rows"),
        Some((done, None)) => format!("{done} rows"),
        None => String::new(),
    }
}

/// The graph of `nodes`, laid out by `layers`, with `edges` (dependency,
/// dependent).
pub(super) fn render(nodes: &[Node], layers: &[Vec<usize>], edges: &[(usize, usize)]) -> Markup {
    let places = places(nodes.len(), layers);
    let columns = to_u32(layers.len().max(1));
    let deepest = to_u32(layers.iter().map(Vec::len).max().unwrap_or(1));
    let width = 2 * MARGIN + columns * WIDTH + (columns - 1) * GAP_X;
    let height = 2 * MARGIN + deepest * HEIGHT + deepest.saturating_sub(1) * GAP_Y;
    html! {
        svg.steps xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="the run's steps" {
            defs {
                marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto" {
                    path d="M 0 0 L 10 5 L 0 10 z" {}
                }
            }
            @for (from, to) in edges {
                @if let (Some(start), Some(end)) = (places.get(*from), places.get(*to)) {
                    @let (x1, y1) = (start.0 + WIDTH, start.1 + HEIGHT / 2);
                    @let (x2, y2) = (end.0, end.1 + HEIGHT / 2);
                    @let bend = (x2.saturating_sub(x1)) / 2;
                    path marker-end="url(#arrow)"
                        d={ "M " (x1) " " (y1) " C " (x1 + bend) " " (y1) ", " (x2 - bend) " " (y2) ", " (x2) " " (y2) } {}
                }
            }
            @for (node, (x, y)) in nodes.iter().zip(&places) {
                g class={ "node " (node.state) } data-step=(node.id) data-state=(node.state) {
                    title { (node.id) ": " (node.state) }
                    rect x=(x) y=(y) width=(WIDTH) height=(HEIGHT) {}
                    text x=(x + 10) y=(y + 18) { (clip(&node.id)) }
                    text.kind x=(x + 10) y=(y + 34) { (node.kind) " · " (node.state) }
                    text.rows x=(x + 10) y=(y + 49) { (rows_label(node.rows)) }
                }
            }
        }
    }
}

/// A step id short enough for its box.
fn clip(id: &str) -> String {
    if id.chars().count() > 28 {
        id.chars().take(27).chain(['…']).collect()
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_become_columns_and_edges_join_them() {
        let node = |id: &str, state: &str| Node {
            id: id.to_owned(),
            kind: "importMembers",
            state: state.to_owned(),
            rows: Some((5, Some(10))),
        };
        let nodes = [
            node("a", "finished"),
            node("b", "running"),
            node("c", "pending"),
        ];
        let svg = render(&nodes, &[vec![0], vec![1, 2]], &[(0, 1), (0, 2)]).into_string();
        assert!(
            svg.contains(r#"<g class="node running" data-step="b" data-state="running">"#),
            "{svg}"
        );
        // b and c share the second column; c is below b.
        assert!(svg.contains(r#"<rect x="268" y="12""#), "{svg}");
        assert!(svg.contains(r#"<rect x="268" y="88""#), "{svg}");
        assert_eq!(svg.matches("marker-end").count(), 2);
        assert!(svg.contains("5 / 10 rows"));
    }

    #[test]
    fn names_are_escaped() {
        let nodes = [Node {
            id: "<script>x</script>".to_owned(),
            kind: "filterGroups",
            state: "pending".to_owned(),
            rows: None,
        }];
        let svg = render(&nodes, &[vec![0]], &[]).into_string();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
    }
}
