import { Hash64Index, hashNumbers, hashString } from "../../util/hash64.js";
import { timeOf, type ReadOptions, type RowProblem, type RowVisitor } from "../row-scanner.js";
import type { CheckName } from "./policy.js";

/** A place in the log and what was there. */
export interface Offender {
  line: number;
  value: string;
}

/** How many rows each check found and the first few of them, in file order. */
class Offenders {
  readonly counts = new Map<CheckName, number>();
  readonly first = new Map<CheckName, Offender[]>();
  /** Per-check messages of the scanner's problems (e.g. which column is missing). */
  readonly messages = new Map<CheckName, { message: string; fix: string }>();

  note(check: CheckName, line: number, value: string, keep = 5): void {
    this.counts.set(check, (this.counts.get(check) ?? 0) + 1);
    const list = this.first.get(check) ?? [];
    if (list.length < keep) list.push({ line, value: value.length > 120 ? `${value.slice(0, 117)}...` : value });
    this.first.set(check, list);
  }

  count(check: CheckName): number {
    return this.counts.get(check) ?? 0;
  }
}

const PROBLEM_CHECK: Record<RowProblem["kind"], CheckName> = {
  columns: "required-columns",
  malformed: "malformed-rows",
  "empty-id": "empty-ids",
  utf8: "utf8",
  unreadable: "gzip",
};

/** A growable Int32Array or Float64Array: `at(n)` makes room for index n. */
function grown<T extends Int32Array | Float64Array>(array: T, n: number, make: (size: number) => T): T {
  if (n < array.length) return array;
  const next = make(Math.max(n + 1, array.length * 2));
  next.set(array);
  return next;
}

/** Unix seconds from a timestamp in seconds, milliseconds or microseconds. */
const toSeconds = (t: number) => (t > 1e14 ? t / 1e6 : t > 1e11 ? t / 1e3 : t);

/**
 * Everything the checks and the profile need, gathered in one streaming pass over the log (a
 * RowVisitor of the shared scanner): per-user and per-item counts in typed arrays, dense ids and
 * repeats by 64-bit hashes (shared/util/hash64.ts); no object per row.
 */
export class DataScan implements RowVisitor {
  readonly offenders = new Offenders();
  private readonly userIndex = new Hash64Index();
  private readonly itemIndex = new Hash64Index();
  readonly userIds: string[] = [];
  readonly itemIds: string[] = [];
  userEvents = new Int32Array(1 << 12);
  itemEvents = new Int32Array(1 << 12);
  userFirstLine = new Int32Array(1 << 12);
  itemFirstLine = new Int32Array(1 << 12);
  private userLastTime = new Float64Array(1 << 12);
  readonly events = new Map<string, number>();
  private readonly lines = new Hash64Index();
  private readonly triples: Hash64Index | undefined;
  private readonly filter: Set<string> | undefined;
  private readonly known: Set<string> | undefined;
  private readonly futureAfter: number;
  records = 0;
  /** The current record repeats an earlier one exactly (counted once, as a duplicate row). */
  private duplicate = false;
  rows = 0;
  skippedByFilter = 0;
  /** The scanner stopped early (a missing column, a truncated file): the counts cover what was read. */
  stopped = false;

  constructor(
    private readonly options: ReadOptions,
    settings: { known?: string[]; now: number; toleranceHours: number },
  ) {
    this.filter = options.eventFilter?.length ? new Set(options.eventFilter) : undefined;
    this.known = settings.known ? new Set(settings.known) : undefined;
    this.triples = options.timeColumn ? new Hash64Index() : undefined;
    this.futureAfter = settings.now + settings.toleranceHours * 3600;
  }

  /** Events (after the event filter) of an item id; 0 when it never appears. */
  eventsOf(item: string): number {
    const i = this.itemIndex.indexOf(hashString(item));
    return i < 0 ? 0 : this.itemEvents[i];
  }

  get users(): number {
    return this.userIds.length;
  }

  get items(): number {
    return this.itemIds.length;
  }

  record(text: string, line: number): void {
    this.records++;
    this.lines.add(hashString(text));
    this.duplicate = !this.lines.added;
    if (this.duplicate) this.offenders.note("duplicate-rows", line, text);
  }

  problem(problem: RowProblem): void {
    const check = PROBLEM_CHECK[problem.kind];
    this.offenders.note(check, problem.line, problem.value || problem.message);
    if (!this.offenders.messages.has(check)) this.offenders.messages.set(check, { message: problem.message, fix: problem.fix });
    if (problem.kind === "columns" || problem.kind === "unreadable") this.stopped = true;
  }

  row(user: string, item: string, time: unknown, event: string | undefined, line: number): void {
    if (this.options.eventColumn) {
      const name = event ?? "";
      if (this.known && !this.known.has(name)) this.offenders.note("event-types", line, name);
      if (this.events.size < 1000 || this.events.has(name)) this.events.set(name, (this.events.get(name) ?? 0) + 1);
      if (this.filter && !this.filter.has(name)) {
        this.skippedByFilter++;
        return;
      }
    }
    this.rows++;
    const u = this.userOf(user, line);
    const i = this.itemOf(item, line);
    if (this.triples) this.timed(u, i, time, line);
  }

  private userOf(user: string, line: number): number {
    const u = this.userIndex.add(hashString(user));
    if (this.userIndex.added) {
      this.userIds.push(user);
      this.userEvents = grown(this.userEvents, u, (n) => new Int32Array(n));
      this.userFirstLine = grown(this.userFirstLine, u, (n) => new Int32Array(n));
      this.userLastTime = grown(this.userLastTime, u, (n) => new Float64Array(n));
      this.userFirstLine[u] = line;
      this.userLastTime[u] = -Infinity;
    }
    this.userEvents[u]++;
    return u;
  }

  private itemOf(item: string, line: number): number {
    const i = this.itemIndex.add(hashString(item));
    if (this.itemIndex.added) {
      this.itemIds.push(item);
      this.itemEvents = grown(this.itemEvents, i, (n) => new Int32Array(n));
      this.itemFirstLine = grown(this.itemFirstLine, i, (n) => new Int32Array(n));
      this.itemFirstLine[i] = line;
    }
    this.itemEvents[i]++;
    return i;
  }

  private timed(u: number, i: number, raw: unknown, line: number): void {
    const t = timeOf(raw);
    if (Number.isNaN(t)) {
      this.offenders.note("timestamps", line, String(raw));
      return;
    }
    if (toSeconds(t) > this.futureAfter) this.offenders.note("future-timestamps", line, String(raw));
    if (t < this.userLastTime[u])
      this.offenders.note("out-of-order", line, `${this.userIds[u]} at ${String(raw)}, after ${this.userLastTime[u]}`);
    else this.userLastTime[u] = t;
    this.triples!.add(hashNumbers(u, i, t));
    if (!this.triples!.added && !this.duplicate)
      this.offenders.note("repeated-events", line, `${this.userIds[u]} ${this.itemIds[i]} ${String(raw)}`);
  }
}
