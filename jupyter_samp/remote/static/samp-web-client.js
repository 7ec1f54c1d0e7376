// A SAMP Web Profile client for browser pages: an ES module with no dependencies.
//
// SAMP 1.3 section 5: the page talks XML-RPC to the hub at
// http://127.0.0.1:21012/ ("samp.webhub.*" methods), registers after the
// user consents, and collects its callbacks with a long poll.
//
//   import { isHubAvailable, register } from "./samp-web-client.js";
//   if (await isHubAvailable()) {
//     const conn = await register({ "samp.name": "mypage" });
//     conn.onMessage("coord.pointAt.sky", (msg) => ({}));   // reply samp.ok {}
//     await conn.startCallbacks();
//     await conn.notifyAll({ "samp.mtype": "table.load.votable", "samp.params": { url } });
//     await conn.unregister();
//   }

/** The Web Profile endpoint every hub serves (the standard's well-known port). */
export const DEFAULT_HUB_URL = "http://127.0.0.1:21012/";

/** Seconds one pullCallbacks may wait on the hub (as other Web Profile clients use). */
export const POLL_TIMEOUT = 600;

const PREFIX = "samp.webhub.";
const QUICK_FAILURE_MS = 1000;
const MAX_QUICK_FAILURES = 3;

/**
 * A SAMP value: a string, a list of values or a map of string keys to values.
 * Numbers and booleans are accepted when sending and become strings.
 * @typedef {string | number | boolean | SampValue[] | {[key: string]: SampValue}} SampValue
 */

/**
 * A SAMP message map.
 * @typedef {{"samp.mtype": string, "samp.params"?: Object<string, SampValue>}} SampMessage
 */

/**
 * A SAMP response map.
 * @typedef {{"samp.status": string, "samp.result"?: Object, "samp.error"?: Object}} SampResponse
 */

/**
 * An incoming message as handlers see it.
 * @typedef {Object} IncomingMessage
 * @property {string} mtype       The MType.
 * @property {Object} params      Its samp.params (an empty object if none).
 * @property {string} senderId    Public id of the sender.
 * @property {string|null} msgId  The msg-id of a call; null for a notification.
 * @property {SampMessage} message The whole message map.
 */

/**
 * A message handler: its return value (or the value its promise resolves to)
 * becomes samp.result of a samp.ok reply; a thrown error becomes a samp.error reply.
 * @callback MessageHandler
 * @param {IncomingMessage} message
 * @returns {Object|void|Promise<Object|void>}
 */

/** An XML-RPC fault answered by the hub (a refusal: bad key, blocked MType, ...). */
export class SampFault extends Error {
  /**
   * @param {number} code    The faultCode.
   * @param {string} message The faultString, the hub's explanation.
   */
  constructor(code, message) {
    super(message);
    this.name = "SampFault";
    this.code = code;
  }
}

// ------------------------------------------------------------------ XML-RPC

/**
 * Escape text for an XML element; CR is written as a reference so it survives.
 * @param {string} text
 * @returns {string}
 */
function escapeXml(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\r/g, "&#13;");
}

/**
 * Encode one value as an XML-RPC <value>.
 * @param {SampValue} value
 * @returns {string}
 * @throws {TypeError} For null, undefined, functions and other non-SAMP values.
 */
export function encodeValue(value) {
  if (typeof value === "string") {
    return `<value><string>${escapeXml(value)}</string></value>`;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`SAMP cannot carry ${value}`);
    return encodeValue(String(value));
  }
  if (typeof value === "boolean") return encodeValue(value ? "1" : "0");
  if (Array.isArray(value)) {
    return `<value><array><data>${value.map(encodeValue).join("")}</data></array></value>`;
  }
  if (value !== null && typeof value === "object") {
    const members = Object.entries(value).map(
      ([key, item]) => `<member><name>${escapeXml(key)}</name>${encodeValue(item)}</member>`,
    );
    return `<value><struct>${members.join("")}</struct></value>`;
  }
  throw new TypeError(`SAMP cannot carry ${value === null ? "null" : typeof value}`);
}

/**
 * Encode an XML-RPC methodCall.
 * @param {string} method
 * @param {SampValue[]} params
 * @returns {string}
 */
export function encodeCall(method, params) {
  const body = params.map((p) => `<param>${encodeValue(p)}</param>`).join("");
  return `<?xml version="1.0"?>\n<methodCall><methodName>${escapeXml(method)}</methodName>`
    + `<params>${body}</params></methodCall>`;
}

/**
 * The element children of a node.
 * @param {Element} node
 * @returns {Element[]}
 */
function elements(node) {
  return Array.from(node.childNodes).filter((child) => child.nodeType === 1);
}

/**
 * Decode an XML-RPC <value> element.
 * @param {Element} node
 * @returns {SampValue}
 * @throws {Error} For element types SAMP does not use.
 */
export function decodeValue(node) {
  const [typed] = elements(node);
  if (!typed) return node.textContent; // a bare <value>text</value> is a string
  switch (typed.localName) {
    case "string":
    case "int":
    case "i4":
    case "double":
      return typed.textContent;
    case "boolean":
      return typed.textContent.trim() === "1" ? "1" : "0";
    case "array": {
      const [data] = elements(typed);
      return data ? elements(data).map(decodeValue) : [];
    }
    case "struct": {
      /** @type {Object<string, SampValue>} */
      const map = {};
      for (const member of elements(typed)) {
        const parts = elements(member);
        const name = parts.find((e) => e.localName === "name");
        const value = parts.find((e) => e.localName === "value");
        if (name && value) map[name.textContent] = decodeValue(value);
      }
      return map;
    }
    default:
      throw new Error(`Unexpected XML-RPC type <${typed.localName}>`);
  }
}

/**
 * Decode an XML-RPC methodResponse.
 * @param {string} text The response body.
 * @returns {SampValue} The result.
 * @throws {SampFault} If the hub answered a fault.
 * @throws {Error} If the text is not an XML-RPC response.
 */
export function decodeResponse(text) {
  const doc = new DOMParser().parseFromString(text, "text/xml");
  if (doc.getElementsByTagName("parsererror").length) {
    throw new Error("Malformed XML-RPC response");
  }
  const fault = doc.querySelector("methodResponse > fault > value");
  if (fault) {
    const info = /** @type {Object<string, string>} */ (decodeValue(fault));
    throw new SampFault(Number(info.faultCode), String(info.faultString));
  }
  const value = doc.querySelector("methodResponse > params > param > value");
  if (!value) throw new Error("XML-RPC response without a value");
  return decodeValue(value);
}

/**
 * Call one XML-RPC method.
 * @param {string} url
 * @param {string} method
 * @param {SampValue[]} params
 * @param {AbortSignal} [signal]
 * @returns {Promise<SampValue>}
 * @throws {SampFault} For a fault; {Error} for HTTP or network failures.
 */
export async function xmlrpcCall(url, method, params, signal) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "text/xml" },
    body: encodeCall(method, params),
    signal,
  });
  if (!response.ok) throw new Error(`${method}: HTTP ${response.status}`);
  return decodeResponse(await response.text());
}

// ------------------------------------------------------------------ hub access

/**
 * Whether a hub answers samp.webhub.ping.
 * @param {{hubUrl?: string, timeout?: number}} [options] timeout in milliseconds.
 * @returns {Promise<boolean>}
 */
export async function isHubAvailable({ hubUrl = DEFAULT_HUB_URL, timeout = 2000 } = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeout);
  try {
    await xmlrpcCall(hubUrl, PREFIX + "ping", [], abort.signal);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Register with the hub. The hub asks the user first, so this may take a while.
 * @param {string | Object<string, string>} identity The page's samp.name, or an
 *   identity map with at least "samp.name".
 * @param {{hubUrl?: string}} [options]
 * @returns {Promise<Connection>}
 * @throws {SampFault} If the user (or the hub's policy) refuses.
 */
export async function register(identity, { hubUrl = DEFAULT_HUB_URL } = {}) {
  const info = typeof identity === "string" ? { "samp.name": identity } : identity;
  const regInfo = await xmlrpcCall(hubUrl, PREFIX + "register", [info]);
  return new Connection(hubUrl, /** @type {Object<string, string>} */ (regInfo));
}

/**
 * Does an MType pattern ("*", "a.b.*" or exact) match an MType?
 * @param {string} pattern
 * @param {string} mtype
 * @returns {boolean}
 */
export function mtypeMatches(pattern, mtype) {
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) return mtype.startsWith(pattern.slice(0, -1));
  return pattern === mtype;
}

/** A registered Web Profile client. Made by {@link register}. */
export class Connection {
  /**
   * @param {string} hubUrl
   * @param {Object<string, string>} regInfo The hub's registration info.
   */
  constructor(hubUrl, regInfo) {
    this.hubUrl = hubUrl;
    this.regInfo = regInfo;
    this.privateKey = regInfo["samp.private-key"];
    this.selfId = regInfo["samp.self-id"];
    this.hubId = regInfo["samp.hub-id"];
    /** @type {Map<string, MessageHandler>} */
    this.handlers = new Map();
    /** @type {Map<string, {resolve: Function, reject: Function}>} */
    this.pendingCalls = new Map();
    /** @type {((reason: string) => void) | null} called once when the connection ends */
    this.onClose = null;
    /** @type {((error: Error) => void) | null} called when a callback cannot be handled */
    this.onError = null;
    this.closed = false;
    this.polling = false;
    this.tagCount = 0;
    this.pollAbort = null;
    this.handlers.set("samp.app.ping", () => ({}));
    this.handlers.set("samp.hub.disconnect", () => this.ended("disconnected by the hub"));
    this.handlers.set("samp.hub.event.shutdown", () => this.ended("the hub shut down"));
  }

  /**
   * Call a samp.webhub method with this client's private key.
   * @param {string} name
   * @param {...SampValue} args
   * @returns {Promise<SampValue>}
   */
  hub(name, ...args) {
    if (this.closed) return Promise.reject(new Error("Not registered"));
    return xmlrpcCall(this.hubUrl, PREFIX + name, [this.privateKey, ...args]);
  }

  // ---------------------------------------------------------------- hub methods

  /** @param {Object<string, SampValue>} metadata */
  declareMetadata(metadata) { return this.hub("declareMetadata", metadata); }
  /** @param {string} clientId */
  getMetadata(clientId) { return this.hub("getMetadata", clientId); }
  /** @param {Object<string, Object>} subscriptions */
  declareSubscriptions(subscriptions) { return this.hub("declareSubscriptions", subscriptions); }
  /** @param {string} clientId */
  getSubscriptions(clientId) { return this.hub("getSubscriptions", clientId); }
  /** @returns {Promise<string[]>} Every other client's id, the hub's included. */
  getRegisteredClients() { return /** @type {Promise<string[]>} */ (this.hub("getRegisteredClients")); }
  /** @param {string} mtype */
  getSubscribedClients(mtype) { return this.hub("getSubscribedClients", mtype); }
  /** @param {string} recipientId @param {SampMessage} message */
  notify(recipientId, message) { return this.hub("notify", recipientId, message); }
  /** @param {SampMessage} message @returns {Promise<string[]>} */
  notifyAll(message) { return /** @type {Promise<string[]>} */ (this.hub("notifyAll", message)); }
  /** @param {string} recipientId @param {string} msgTag @param {SampMessage} message */
  call(recipientId, msgTag, message) { return this.hub("call", recipientId, msgTag, message); }
  /** @param {string} msgTag @param {SampMessage} message */
  callAll(msgTag, message) { return this.hub("callAll", msgTag, message); }
  /**
   * @param {string} recipientId
   * @param {SampMessage} message
   * @param {number} [timeout] seconds; 0 waits as long as the hub allows.
   * @returns {Promise<SampResponse>}
   */
  callAndWait(recipientId, message, timeout = 0) {
    return /** @type {Promise<SampResponse>} */ (
      this.hub("callAndWait", recipientId, message, String(Math.round(timeout))));
  }
  /** @param {string} msgId @param {SampResponse} response */
  reply(msgId, response) { return this.hub("reply", msgId, response); }
  /** Ping the hub (with this client's key). */
  ping() { return this.hub("ping"); }

  /**
   * Call one client and resolve with its response (needs {@link startCallbacks}).
   * @param {string} recipientId
   * @param {SampMessage} message
   * @returns {Promise<SampResponse>}
   */
  async send(recipientId, message) {
    const tag = `jsc-${++this.tagCount}`;
    const answer = new Promise((resolve, reject) => this.pendingCalls.set(tag, { resolve, reject }));
    try {
      await this.call(recipientId, tag, message);
    } catch (error) {
      this.pendingCalls.delete(tag);
      throw error;
    }
    return answer;
  }

  /**
   * Read a URL through the hub's URL translator (for URLs other applications sent).
   * @param {string} url
   * @returns {string} The URL to fetch.
   */
  translateUrl(url) {
    const prefix = this.regInfo["samp.url-translator"];
    return prefix ? prefix + encodeURIComponent(url) : url;
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Handle messages matching an MType pattern (replacing any handler for it).
   * Subscriptions follow the handlers once {@link startCallbacks} has run.
   * @param {string} pattern "table.load.votable", "table.*" or "*".
   * @param {MessageHandler} handler
   * @returns {Promise<void>}
   */
  async onMessage(pattern, handler) {
    this.handlers.set(pattern, handler);
    if (this.polling) await this.declareSubscriptions(this.subscriptions());
  }

  /** @returns {Object<string, Object>} The subscriptions map of the handlers. */
  subscriptions() {
    /** @type {Object<string, Object>} */
    const subs = {};
    for (const pattern of this.handlers.keys()) subs[pattern] = {};
    return subs;
  }

  /**
   * Become callable, subscribe to the handled MTypes, and start the poll loop.
   * @returns {Promise<void>}
   */
  async startCallbacks() {
    if (this.polling) return;
    await this.hub("allowReverseCallbacks", "1");
    this.polling = true;
    await this.declareSubscriptions(this.subscriptions());
    this.pollLoop();
  }

  /** Long-poll the hub until stopped; gives up after repeated quick failures. */
  async pollLoop() {
    let quickFailures = 0;
    while (this.polling && !this.closed) {
      const started = Date.now();
      this.pollAbort = new AbortController();
      try {
        const items = await xmlrpcCall(this.hubUrl, PREFIX + "pullCallbacks",
          [this.privateKey, String(POLL_TIMEOUT)], this.pollAbort.signal);
        quickFailures = 0;
        for (const item of /** @type {Object[]} */ (items)) this.dispatch(item);
      } catch (error) {
        if (!this.polling || this.closed) break;
        // a failure after a long wait is a dropped long poll: try again;
        // quick failures in a row mean the hub has gone
        quickFailures = Date.now() - started < QUICK_FAILURE_MS ? quickFailures + 1 : 0;
        if (quickFailures >= MAX_QUICK_FAILURES) {
          this.ended(`the hub stopped answering: ${error.message}`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * quickFailures));
      }
    }
  }

  /**
   * Run one callback from pullCallbacks.
   * @param {Object} item {"samp.methodName", "samp.params"}
   */
  dispatch(item) {
    const method = item["samp.methodName"];
    const args = item["samp.params"] || [];
    if (method === "receiveNotification") {
      this.receive(args[0], null, args[1]);
    } else if (method === "receiveCall") {
      this.receive(args[0], args[1], args[2]);
    } else if (method === "receiveResponse") {
      const waiter = this.pendingCalls.get(args[1]);
      if (waiter) {
        this.pendingCalls.delete(args[1]);
        waiter.resolve(args[2]);
      }
    }
  }

  /**
   * Run the handler of a message; answer calls with its outcome.
   * @param {string} senderId
   * @param {string|null} msgId
   * @param {SampMessage} message
   */
  async receive(senderId, msgId, message) {
    const mtype = message["samp.mtype"];
    const handler = this.findHandler(mtype);
    /** @type {SampResponse} */
    let response;
    try {
      if (!handler) throw new Error(`No handler for ${mtype}`);
      const params = message["samp.params"] || {};
      const result = await handler({ mtype, params, senderId, msgId, message });
      response = { "samp.status": "samp.ok", "samp.result": result || {} };
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      response = { "samp.status": "samp.error", "samp.error": { "samp.errortxt": text || "error" } };
      if (msgId === null && this.onError) this.onError(error);
    }
    if (msgId !== null && !this.closed) {
      try {
        await this.reply(msgId, response);
      } catch (error) {
        if (this.onError) this.onError(error);
      }
    }
  }

  /**
   * The handler for an MType: an exact pattern first, then the most specific wildcard.
   * @param {string} mtype
   * @returns {MessageHandler|undefined}
   */
  findHandler(mtype) {
    if (this.handlers.has(mtype)) return this.handlers.get(mtype);
    let best;
    let bestLength = -1;
    for (const [pattern, handler] of this.handlers) {
      if (mtypeMatches(pattern, mtype) && pattern.length > bestLength) {
        best = handler;
        bestLength = pattern.length;
      }
    }
    return best;
  }

  // ---------------------------------------------------------------- leaving

  /**
   * The connection is over (unregistered, disconnected, hub gone).
   * @param {string} reason
   */
  ended(reason) {
    if (this.closed) return;
    this.closed = true;
    this.polling = false;
    if (this.pollAbort) this.pollAbort.abort();
    for (const waiter of this.pendingCalls.values()) waiter.reject(new Error(reason));
    this.pendingCalls.clear();
    if (this.onClose) this.onClose(reason);
  }

  /**
   * Stop polling and unregister (errors are ignored: the hub may be gone already).
   * @returns {Promise<void>}
   */
  async unregister() {
    if (this.closed) return;
    this.polling = false;
    try {
      await this.hub("unregister");
    } catch {
      // the hub went away first: nothing left to undo
    }
    this.ended("unregistered");
  }
}
