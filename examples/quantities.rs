//! Rewrites the list of output quantities in README.md from the one table in
//! `smmcool::results` (between the `<!-- quantities -->` markers).

fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path)?;
    let (head, rest) = readme
        .split_once("<!-- quantities -->\n")
        .expect("README has the opening marker");
    let (_, tail) = rest
        .split_once("<!-- /quantities -->")
        .expect("README has the closing marker");
    let text = format!(
        "{head}<!-- quantities -->\n{}<!-- /quantities -->{tail}",
        smmcool::results::quantities_markdown()
    );
    std::fs::write(path, text)
}
