// A PartyServer chat room (npm `partyserver`, Cloudflare's Durable Object WebSocket server
// library), written as its README shows, for daemon/tests/e2e_partyserver.rs. `Chat` hibernates
// (`static options = { hibernate: true }`): its connections live on through the object's
// eviction, as WebSockets the platform keeps, and partyserver finds them again (getWebSockets,
// attachments). `Echo` is the library's default, in-memory connections (accept() and event
// listeners in the object itself): the object's request drives each socket. The worker
// routes `/parties/:server/:name` with routePartykitRequest, which finds each namespace by its
// env binding's name in kebab case (binding `Chat` -> `/parties/chat/...`).
import { routePartykitRequest, Server } from "partyserver";

export class Chat extends Server {
  static options = { hibernate: true };

  onStart() {
    // Once per construction: how many times this room's object was constructed.
    const starts = (this.ctx.storage.kv.get("starts") ?? 0) + 1;
    this.ctx.storage.kv.put("starts", starts);
    this.starts = starts;
  }

  onConnect(connection, ctx) {
    const who = new URL(ctx.request.url).searchParams.get("who") ?? "anon";
    connection.setState({ who, sent: 0 });
    connection.send(JSON.stringify({ type: "welcome", room: this.name, id: connection.id, who }));
  }

  onMessage(connection, message) {
    const state = connection.setState((s) => ({ ...s, sent: s.sent + 1 }));
    if (message === "who") {
      const list = [];
      for (const c of this.getConnections()) list.push(`${c.state.who}=${c.state.sent}`);
      list.sort();
      connection.send(JSON.stringify({ type: "who", list, starts: this.starts, room: this.name }));
      return;
    }
    const dm = /^to:([^:]+):(.*)$/.exec(String(message));
    if (dm !== null) {
      // To one connection by its id (partyserver finds it by the tag it gave it).
      const to = this.getConnection(dm[1]);
      if (to) to.send(JSON.stringify({ type: "dm", from: state.who, text: dm[2] }));
      else connection.send(JSON.stringify({ type: "nobody", id: dm[1] }));
      return;
    }
    this.ctx.storage.kv.put("messages", (this.ctx.storage.kv.get("messages") ?? 0) + 1);
    this.broadcast(
      JSON.stringify({ type: "say", from: state.who, text: String(message), n: state.sent }),
      [connection.id],
    );
  }

  onClose(connection) {
    const who = connection.state?.who ?? null;
    this.broadcast(JSON.stringify({ type: "left", who }), [connection.id]);
  }

  onRequest(request) {
    let connections = 0;
    for (const _ of this.getConnections()) connections++;
    return Response.json({
      room: this.name,
      method: request.method,
      connections,
      messages: this.ctx.storage.kv.get("messages") ?? 0,
    });
  }
}

export class Echo extends Server {
  onConnect(connection) {
    const chosen = new URL(connection.uri).searchParams.get("_pk");
    connection.send(`hello ${this.name} ${connection.id === chosen}`);
  }

  onMessage(connection, message) {
    this.broadcast(`${this.name}: ${message}`);
  }

  // partyserver drops the connection from its list before it calls onClose: the others hear it.
  onClose(connection) {
    this.broadcast(`${this.name}: ${connection.id} left`);
  }

  onRequest() {
    return new Response(`${this.name} has ${[...this.getConnections()].length}`);
  }
}

export default {
  async fetch(request, env) {
    return (await routePartykitRequest(request, env)) || new Response("Not Found", { status: 404 });
  },
};
