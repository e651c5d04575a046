// The bench's agents, in a process of their own (as real agents are elsewhere): `quiet` accepts every
// turn and never calls back; `sync` answers JSON at once; `stream` streams an AI SDK UI message stream
// and reports, on stdout, when it wrote each turn's first delta (`fd <turnId> <epoch ms>`).
import { createServer } from "node:http";

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  if (req.url === "/quiet") return res.writeHead(202).end();
  const turnId = JSON.parse(body).turnId;
  if (req.url === "/sync") {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ output: "Your balance is €1,234.56.", intent: "balance", confidence: 0.9 }));
  }
  res.writeHead(200, { "content-type": "text/event-stream", "x-vercel-ai-ui-message-stream": "v1" });
  res.write('data: {"type":"start"}\n\ndata: {"type":"text-start","id":"t"}\n\n');
  res.write('data: {"type":"text-delta","id":"t","delta":"Your "}\n\n');
  process.stdout.write(`fd ${turnId} ${now()}\n`);
  for (const word of ["balance ", "is ", "€1,234.56."]) {
    await sleep(2);
    res.write(`data: ${JSON.stringify({ type: "text-delta", id: "t", delta: word })}\n\n`);
  }
  res.end('data: {"type":"text-end","id":"t"}\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n');
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`url http://127.0.0.1:${server.address().port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
