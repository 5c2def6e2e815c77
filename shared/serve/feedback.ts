import { asObject, describe, quoteList } from "./body.js";
import { badRequest } from "./http-error.js";
import { FEEDBACK_EVENTS, type FeedbackEvent } from "./metrics.js";

export type FeedbackOutcome = "recommended" | "not_recommended" | "unknown_request";

/**
 * What a /v1/recommend response held, for the last `capacity` request ids (oldest forgotten
 * first). The ids also sit in a ring in arrival order, so forgetting the oldest is a keyed
 * delete: taking a Map's first key instead walks over every entry deleted before it, ~13 µs a
 * request once the map is full (measured at 50,000 entries).
 */
export class RecentRecommendations {
  private readonly entries = new Map<string, readonly string[]>();
  private readonly order: (string | undefined)[];
  private next = 0;

  constructor(private readonly capacity = 50_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a whole number ≥ 1, got ${capacity}`);
    this.order = new Array<string | undefined>(capacity);
  }

  get size(): number {
    return this.entries.size;
  }

  remember(requestId: string, items: readonly string[]): void {
    if (this.entries.has(requestId)) {
      this.entries.set(requestId, items);
      return;
    }
    const oldest = this.order[this.next];
    if (oldest !== undefined) this.entries.delete(oldest);
    this.order[this.next] = requestId;
    this.next = (this.next + 1) % this.capacity;
    this.entries.set(requestId, items);
  }

  outcome(requestId: string, item: string): FeedbackOutcome {
    const items = this.entries.get(requestId);
    if (!items) return "unknown_request";
    return items.includes(item) ? "recommended" : "not_recommended";
  }
}

export interface FeedbackRequest {
  requestId: string;
  item: string;
  event: FeedbackEvent;
}

/** `{"request_id": "...", "item": "sku-1", "event": "click"}`; 400s name the bad field. */
export function parseFeedback(body: unknown): FeedbackRequest {
  const o = asObject(body);
  const requestId = o.request_id;
  if (typeof requestId !== "string" || requestId.length === 0 || requestId.length > 200) {
    throw badRequest(
      `"request_id" must be the request_id of a /v1/recommend response (a string of 1 to 200 characters), got ${describe(requestId)}`,
    );
  }
  const item = o.item ?? o.item_id;
  if (!(typeof item === "string" && item.length > 0 && item.length <= 1000) && !(typeof item === "number" && Number.isSafeInteger(item))) {
    throw badRequest(`"item" must be the shop's item id (a non-empty string or a whole number), got ${describe(item)}`);
  }
  const event = o.event;
  if (!FEEDBACK_EVENTS.includes(event as FeedbackEvent)) {
    throw badRequest(`"event" must be one of ${FEEDBACK_EVENTS.join(", ")}, got ${describe(event)}`);
  }
  const unknown = Object.keys(o).filter((key) => !["request_id", "item", "item_id", "event"].includes(key));
  if (unknown.length) throw badRequest(`unknown field(s) ${quoteList(unknown)}; send request_id, item and event`);
  return { requestId, item: String(item), event: event as FeedbackEvent };
}
