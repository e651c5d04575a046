// Reads one client frame off a socket (pure): size, JSON, the protocol schema; an error names what is wrong.
import * as z from "zod";
import { clientFrameSchema, type ClientFrame, type ErrorCode } from "../protocol";

export type ParsedFrame = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; clientId?: string };

export function parseClientFrame(data: string | ArrayBuffer, maxBytes: number): ParsedFrame {
  if (typeof data !== "string") return { ok: false, code: "BAD_FRAME", message: "frames must be JSON text" };
  if (data.length > maxBytes) return { ok: false, code: "PAYLOAD_TOO_LARGE", message: `frames are limited to ${maxBytes} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, code: "BAD_FRAME", message: "frame is not valid JSON" };
  }
  const parsed = clientFrameSchema.safeParse(raw);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const clientId = clientIdOf(raw);
  return { ok: false, code: "BAD_FRAME", message: z.prettifyError(parsed.error), ...(clientId ? { clientId } : {}) };
}

/** The clientId a frame carries, if any, so an error can name the message it is about. */
export function clientIdOf(raw: unknown): string | undefined {
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  const clientId = typeof raw === "object" && raw !== null ? (raw as { clientId?: unknown }).clientId : undefined;
  return typeof clientId === "string" ? clientId : undefined;
}
