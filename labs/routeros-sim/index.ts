/**
 * RouterOS API simulator for tests, demos and benchmarks: a TCP/TLS server that speaks the RouterOS API wire
 * protocol to real clients (node-routeros) and enforces the router's rules (menu tables in menus.ts).
 * See README.md beside this file.
 */
export {
  DEFAULT_FATAL_MESSAGE,
  DEFAULT_VERSION,
  startRouterOsSim,
  type DropOptions,
  type LogEntry,
  type RosSimOptions,
  type RouterOsSim,
  type SimEdit,
  type SimFaults,
  type SimStats,
} from "./server";
export { Msg } from "./messages";
export { type RosVersion, atLeast, parseVersion } from "./version";
export { RawRosClient, type CommandResult as RawCommandResult, type RawClientOptions } from "./raw-client";
export {
  decodeLength,
  encodeLength,
  encodeLengthAs,
  encodeSentence,
  encodeWord,
  parseReply,
  parseSentence,
  ProtocolError,
  SentenceDecoder,
  type ReplySentence,
} from "./protocol";
export { formatDurationV6, formatDurationV7, parseDurationMs } from "./values";
