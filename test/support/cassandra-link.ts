import { createConnection, createServer, Server, Socket } from 'node:net';

/** One relay: connections to `relay` (a node's broadcast address) are forwarded to `node` (its listen address). */
export interface LinkRoute {
  relay: string;
  node: string;
}

/**
 * The link between the Cassandra nodes of two regions, relayed through the test process: each node
 * broadcasts a relay's address, so every byte between the datacenters passes here (this machine has no
 * iptables, and every region lives on loopback). `cut` is a partition: nothing passes, in either direction,
 * and nothing is refused or closed either (the peers time out, as when packets vanish); `heal` drops the
 * stalled connections, and the nodes reconnect.
 */
export class CassandraLink {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private cutOff = false;

  constructor(
    private readonly routes: readonly LinkRoute[],
    private readonly port: number,
  ) {}

  get isCut(): boolean {
    return this.cutOff;
  }

  async start(): Promise<void> {
    for (const { relay, node } of this.routes) {
      const server = createServer((peer) => this.accept(peer, node));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.port, relay, () => resolve());
      });
      this.servers.push(server);
    }
  }

  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  heal(): void {
    this.cutOff = false;
    this.dropAll();
  }

  async dispose(): Promise<void> {
    this.dropAll();
    await Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(resolve))));
    this.servers.length = 0;
  }

  private accept(peer: Socket, node: string): void {
    this.track(peer);
    // During a cut a new connection is accepted and never answered: the handshake times out.
    if (this.cutOff) {
      peer.pause();
      return;
    }
    const upstream = createConnection({ host: node, port: this.port });
    this.track(upstream);
    const closeBoth = () => {
      peer.destroy();
      upstream.destroy();
    };
    peer.on('close', closeBoth);
    upstream.on('close', closeBoth);
    peer.pipe(upstream);
    upstream.pipe(peer);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined); // a peer killed or dropped: the close handler ends its partner
    socket.on('close', () => this.sockets.delete(socket));
  }

  private dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
