// A typed client for im-access: openapi-fetch over the types generated from the
// server's OpenAPI document (src/schema.d.ts).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];

/** A client of one server. With `token` (a session from signinbysms) every request
 * carries it in the `token` header. */
export function imClient(baseUrl: string, token?: string) {
  const client = createClient<paths>({ baseUrl });
  if (token) {
    client.use({
      onRequest({ request }) {
        request.headers.set("token", token);
        return request;
      },
    });
  }
  return client;
}

/** A non-zero envelope code: what the server refused, and why. */
export class ImError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly requestId: string,
  ) {
    super(`code ${code}: ${message} (request ${requestId})`);
  }
}

interface Envelope<T> {
  code: number;
  message: string;
  data: T | null;
  "request-id": string;
}

/** The `data` of a call's envelope. Every answer is the envelope (HTTP 200 for all a
 * route produces), and clients branch on `code`: anything but 0 throws an `ImError`. */
export async function unwrap<T>(
  call: Promise<{ data?: Envelope<T>; error?: unknown; response: Response }>,
): Promise<T> {
  const { data: envelope, error, response } = await call;
  const body = envelope ?? (error as Envelope<T> | undefined);
  if (!body || typeof body.code !== "number") {
    throw new Error(`${response.url}: HTTP ${response.status} without the envelope`);
  }
  if (body.code !== 0 || body.data === null) {
    throw new ImError(body.code, body.message, body["request-id"]);
  }
  return body.data;
}
