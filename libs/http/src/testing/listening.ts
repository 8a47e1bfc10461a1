import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoadSheddingGate } from '../observability/load-shedding-gate';

/** Waits (at most 2 s) until `condition` holds. */
export async function waitFor(condition: () => boolean): Promise<void> {
  for (const until = Date.now() + 2_000; !condition() && Date.now() < until;)
    await new Promise((resolve) => setTimeout(resolve, 5));
}

/** A server on loopback with the gate in front of `listener` (the framework's place); `close` stops both. */
export async function listening(
  gate: LoadSheddingGate,
  listener: (request: IncomingMessage, response: ServerResponse) => void,
) {
  const server: Server = createServer(listener);
  gate.install(server);
  gate.install(server); // once a server: a second gate would count each request twice
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => {
    gate.onApplicationShutdown();
    server.closeAllConnections();
    server.close();
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close };
}
