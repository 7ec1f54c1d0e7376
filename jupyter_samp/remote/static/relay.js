// The browser's part of the SAMP route of a remote kernel (an anywidget module).
//
// The kernel cannot reach the desktop hub; this page can. The module opens a
// websocket to the kernel through the Jupyter server extension
// (<base>/jupyter-samp/relay/<token>), says where the page is and whether it
// reaches the hub's Web Profile, runs the hub calls the kernel asks for, and
// forwards the callbacks it pulls from the hub. It is appended to
// samp-web-client.js, whose xmlrpcCall, SampFault, POLL_TIMEOUT and
// DEFAULT_HUB_URL it uses. The relay lives with the widget's model, not a
// view: it starts when the kernel creates the widget, whether or not it is
// displayed, and again when a reloaded page restores the widget.

const RETRY_MS = 1000;
// Downloads for the kernel go back in pieces of this many bytes (base64 makes
// them a third larger; the kernel takes messages up to 4 MiB), and wait while
// the socket holds more than BACKLOG bytes not yet sent.
const PIECE = 512 * 1024;
const BACKLOG = 4 * 1024 * 1024;

/** Base64 of bytes (btoa takes a binary string, built in slices: no huge argument lists). */
function toBase64(bytes) {
  let text = "";
  for (let start = 0; start < bytes.length; start += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(start, start + 0x8000));
  }
  return btoa(text);
}

/** The page's Jupyter configuration (JupyterLab and Notebook 7 both embed it). */
function pageConfig() {
  const element = document.getElementById("jupyter-config-data");
  if (!element) return {};
  try {
    return JSON.parse(element.textContent || "{}");
  } catch {
    return {};
  }
}

/** The Jupyter server's base URL as this page sees it (JupyterHub's /user/NAME/ included). */
function baseUrl() {
  const base = pageConfig().baseUrl || "/";
  return new URL(base.endsWith("/") ? base : base + "/", location.href);
}

/** The websocket URL of the relay for a token, with the page's token if it has one. */
function relaySocketUrl(token) {
  const url = new URL(`jupyter-samp/relay/${token}`, baseUrl());
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const auth = pageConfig().token;
  if (auth) url.searchParams.set("token", auth);
  return url.href;
}

/** The state of Chromium's Local Network Access permission, or "unsupported". */
async function localNetworkPermission() {
  try {
    const status = await navigator.permissions.query({ name: "local-network-access" });
    return status.state;
  } catch {
    return "unsupported";
  }
}

/** Whether the hub answers ping from this page, and if not, why it may not. */
async function probeHub(hubUrl) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  try {
    await xmlrpcCall(hubUrl, "samp.webhub.ping", [], abort.signal);
    return { hub_state: "available", detail: "" };
  } catch (error) {
    const lna = await localNetworkPermission();
    const blocked = lna === "denied" || lna === "prompt";
    return {
      hub_state: blocked ? "blocked" : "unreachable",
      detail: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether the kernel's data can be fetched without the page's login, as
 * TOPCAT and DS9 will fetch it. A deployment that forces a login everywhere
 * answers with a redirect or 401/403 instead of 204.
 */
async function dataIsOpen(dataBase) {
  try {
    const response = await fetch(dataBase, { credentials: "omit", redirect: "manual" });
    return response.status === 204;
  } catch {
    return false;
  }
}

/** One relay: the websocket to the kernel and the long poll on the hub. */
class Relay {
  constructor(model) {
    this.model = model;
    this.hubUrl = model.get("hub_url") || DEFAULT_HUB_URL;
    this.token = model.get("token");
    this.socket = null;
    this.pullKey = null;
    this.pullAbort = null;
    this.downloads = new Map();
    this.stopped = false;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    const socket = new WebSocket(relaySocketUrl(this.token));
    this.socket = socket;
    socket.onopen = () => this.hello();
    socket.onmessage = (event) => this.take(JSON.parse(event.data));
    socket.onclose = (event) => {
      this.stopPulling();
      for (const abort of this.downloads.values()) abort.abort();
      if (this.socket === socket) this.socket = null;
      // Replaced by another page (4000), closed by the kernel (4001) or
      // refused (4403): do not fight over it. Otherwise (the server
      // restarted, the network dropped) try again.
      if (!this.stopped && ![4000, 4001, 4403].includes(event.code)) {
        setTimeout(() => this.connect(), RETRY_MS);
      }
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  async hello() {
    const probe = await probeHub(this.hubUrl);
    const dataBase = new URL(`jupyter-samp/data/${this.token}`, baseUrl()).href;
    this.send({
      type: "hello",
      page: location.href,
      origin: location.origin,
      data_base: dataBase,
      data_open: await dataIsOpen(dataBase),
      hub: this.hubUrl,
      lna: await localNetworkPermission(),
      ...probe,
    });
  }

  take(message) {
    if (message.type === "call") this.call(message);
    else if (message.type === "pull") this.startPulling(message.key);
    else if (message.type === "stop") this.stopPulling();
    else if (message.type === "probe") this.hello();
    else if (message.type === "fetch") this.download(message);
    else if (message.type === "fetch-cancel") this.downloads.get(message.id)?.abort();
  }

  /**
   * Fetch a URL of the hub's URL translator for the kernel, and send it back in
   * pieces. Only the hub's own address is fetched: the page reads nothing else
   * for the kernel, and the hub serves only what other applications sent.
   */
  async download({ id, url }) {
    const abort = new AbortController();
    this.downloads.set(id, abort);
    try {
      if (new URL(url).origin !== new URL(this.hubUrl).origin) {
        throw new Error("not an address of the hub's URL translator");
      }
      const response = await fetch(url, { signal: abort.signal, credentials: "omit" });
      if (!response.ok) throw new Error(`the hub's URL translator answered HTTP ${response.status}`);
      const reader = response.body.getReader();
      let held = [];
      let size = 0;
      const flush = async () => {
        if (!size) return;
        const piece = new Uint8Array(size);
        let at = 0;
        for (const part of held) { piece.set(part, at); at += part.length; }
        held = []; size = 0;
        while (this.socket && this.socket.bufferedAmount > BACKLOG && !abort.signal.aborted) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        this.send({ type: "fetch-data", id, chunk: toBase64(piece) });
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        held.push(value); size += value.length;
        if (size >= PIECE) await flush();
      }
      await flush();
      if (!abort.signal.aborted) this.send({ type: "fetch-end", id });
    } catch (error) {
      if (!abort.signal.aborted) {
        this.send({ type: "fetch-error", id, message: error instanceof Error ? error.message : String(error) });
      }
    } finally {
      this.downloads.delete(id);
    }
  }

  async call({ id, method, params, timeout }) {
    const abort = new AbortController();
    const timer = timeout ? setTimeout(() => abort.abort(), timeout * 1000) : null;
    try {
      const result = await xmlrpcCall(this.hubUrl, method, params, abort.signal);
      this.send({ type: "result", id, result });
    } catch (error) {
      if (error instanceof SampFault) {
        this.send({ type: "fault", id, code: error.code, message: error.message });
      } else {
        this.send({ type: "error", id, message: error instanceof Error ? error.message : String(error) });
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  startPulling(key) {
    this.stopPulling();
    this.pullKey = key;
    this.pullLoop(key);
  }

  stopPulling() {
    this.pullKey = null;
    if (this.pullAbort) this.pullAbort.abort();
    this.pullAbort = null;
  }

  async pullLoop(key) {
    let quickFailures = 0;
    while (this.pullKey === key && !this.stopped) {
      const started = Date.now();
      const abort = new AbortController();
      this.pullAbort = abort;
      try {
        const items = await xmlrpcCall(this.hubUrl, "samp.webhub.pullCallbacks",
          [key, String(POLL_TIMEOUT)], abort.signal);
        quickFailures = 0;
        for (const item of items) {
          this.send({ type: "callback", method: item["samp.methodName"], params: item["samp.params"] || [] });
        }
      } catch (error) {
        if (this.pullKey !== key || this.stopped) break;
        const detail = error instanceof Error ? error.message : String(error);
        // A fault means the hub no longer knows this key; quick failures in a
        // row mean it has gone. A failure after a long wait is a dropped poll.
        quickFailures = Date.now() - started < RETRY_MS ? quickFailures + 1 : 0;
        if (error instanceof SampFault || quickFailures >= 3) {
          this.pullKey = null;
          this.send({ type: "hub-lost", key, detail });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * quickFailures));
      }
    }
  }

  stop() {
    this.stopped = true;
    this.stopPulling();
    for (const abort of this.downloads.values()) abort.abort();
    if (this.socket) this.socket.close();
  }
}

export default {
  initialize({ model }) {
    const relay = new Relay(model);
    return () => relay.stop();
  },
  render({ model, el }) {
    const line = document.createElement("span");
    line.className = "jupyter-samp-relay";
    const show = () => { line.textContent = model.get("status"); };
    model.on("change:status", show);
    show();
    el.appendChild(line);
    return () => model.off("change:status", show);
  },
};
