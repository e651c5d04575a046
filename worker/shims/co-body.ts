// Stand-in for co-body, which trpc-to-openapi imports for its Node adapters. The fetch adapter we
// use parses bodies itself and never calls it; the real package (iconv-lite, raw-body) cannot load
// in workerd. wrangler.toml aliases "co-body" here.
export default function parse(): never {
  throw new Error("co-body is not available in the Worker runtime");
}
