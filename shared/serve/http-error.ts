/**
 * A request the server refuses: the status and a message naming the problem, sent to the
 * client as `{"error": message}` (the Open Inference Protocol's error shape). Anything else
 * a handler throws is a bug: the client gets a 500 and the server stays up.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message);
