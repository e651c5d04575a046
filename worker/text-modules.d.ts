// Markdown files imported as text (wrangler.toml's `[[rules]] type = "Text"` for **/*.md).
declare module "*.md" {
  const text: string;
  export default text;
}
