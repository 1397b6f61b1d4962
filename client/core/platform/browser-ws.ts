// The WebSocket transport of the browser: the global WebSocket. It cannot set an Authorization
// header, so the token goes in the first frame, `{"type":"auth","token":"<token>"}`, before
// anything else is sent (docs/RELAY.md "WebSocket API"); never in the URL.
import { connectionOf, type SocketConnection, type SocketHandlers, type SocketOptions, type SocketTransport } from './ws.js';

export const socketTransport: SocketTransport = {
  open(url: string, o: SocketOptions, h: SocketHandlers): SocketConnection {
    if (o.ca !== undefined) throw new Error('a CA file cannot be used from a browser: the browser checks the relay certificate itself');
    const ws = new WebSocket(url);
    // A browser WebSocket has no handshake timeout of its own.
    const timer = setTimeout(() => {
      if (ws.readyState !== WebSocket.CONNECTING) return;
      h.error(new Error(`no answer to the websocket upgrade within ${o.timeoutMs} ms`));
      ws.close();
    }, o.timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      h.upgrade(undefined);
      if (o.token !== undefined) ws.send(JSON.stringify({ type: 'auth', token: o.token }));
      h.open();
    };
    // The event says nothing (a browser hides why); the close that follows has the code.
    ws.onerror = () => h.error(new Error('the websocket failed'));
    ws.onclose = (e) => {
      clearTimeout(timer);
      h.close(e.code, e.reason);
    };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') h.text(e.data);
    };
    // A browser has no abrupt close; a normal one is the nearest.
    return connectionOf(ws, () => ws.close());
  },
};
