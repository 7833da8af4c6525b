// The live feed, off the page's main thread: the socket, the JSON, and folding a burst of updates into the
// latest state per robot happen here; the page gets the result a few times a second.

const FLUSH_MS = 200;
let socket = null;
let closed = false;
let pause = 1000;
let token = null;
let url = null;
let filter = {};
let states = new Map();  // robot id -> its latest state since the last flush
let others = [];  // alerts and notices, in order

function open() {
  socket = new WebSocket(url);
  socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token }));
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "welcome") {
      pause = 1000;
      socket.send(JSON.stringify({ type: "subscribe", batch: true, ...filter }));
      return;
    }
    for (const item of frame.type === "batch" ? frame.items : [frame]) {
      if (item.type === "state") states.set(item.robot_id, item);
      else others.push(item);
    }
  };
  socket.onclose = (event) => {
    if (closed) return;
    if (event.code === 4401) {
      postMessage({ loggedOut: true });
      return;
    }
    setTimeout(open, pause);
    pause = Math.min(pause * 2, 30000);
  };
}

setInterval(() => {
  if (!states.size && !others.length) return;
  postMessage({ items: [...others, ...states.values()] });
  states = new Map();
  others = [];
}, FLUSH_MS);

onmessage = (event) => {
  const message = event.data;
  if (message.open) {
    ({ url, token, filter } = message.open);
    open();
  } else if (message.subscribe) {
    filter = message.subscribe;
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "subscribe", batch: true, ...filter }));
  } else if (message.close) {
    closed = true;
    socket?.close();
    close();
  }
};
