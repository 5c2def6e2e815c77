import { RecshipError } from "../errors.js";
import { epochList, type Objective, type PlannedTrial, type TunePlan } from "./plan.js";
import { configYaml, type ParamValues } from "./space.js";
import { entryNames, getJson, putJson } from "./store.js";
import { fetchPlan, rungMembers, type NdcgFigures, type RungMembers, type StoreContext, type TrialResult } from "./trial.js";

/** A trial on one rung as the report shows it (a trial with no stored result crashed or never ran). */
interface RungOutcome {
  rung: number;
  epochs: number;
  status: "ok" | "failed" | "missing";
  metric?: number;
  valid?: NdcgFigures;
  error?: string;
  /** Went on to the next rung: promoted by the objective, or carried as the reference (the default configuration). */
  next?: "promoted" | "reference";
}

export interface TrialSummary {
  id: string;
  isDefault: boolean;
  values: ParamValues;
  /** train-model's config (YAML) for the trial. */
  config: string;
  /** The highest rung it reached, and its validation figures there. */
  rung: number;
  valid?: NdcgFigures;
  metric?: number;
  rungs: RungOutcome[];
}

export interface Finalist {
  trial: string;
  config: string;
  values: ParamValues;
  rung: number;
  /** The rung's epochs. */
  epochs: number;
  /** Epochs it trained, when fewer than the rung's (the budget stopped it, or early stopping). */
  epochsTrained?: number;
  metric: number;
  valid: NdcgFigures;
  /** The test split's figures: reported, never used to choose. */
  test?: NdcgFigures;
}

export interface TuneReport {
  step: "tune";
  name: string;
  objective: Objective;
  /** How the objective reads in words. */
  objectiveLabel: string;
  seed: number;
  sampler: string;
  eta: number;
  rungs: {
    rung: number;
    epochs: number;
    trials: string[];
    promoted: string[];
    reference?: string;
    ok: number;
    failed: number;
    missing: number;
  }[];
  /** The rung select gathered. */
  selectedRung: number;
  /** True when that was the last rung: `best` is the winner. */
  done: boolean;
  /** The next rung's matrix for strategy.matrix (`{"include": [{trial, rung}, ...]}`), empty when done. */
  matrix?: { include: { trial: string; rung: number }[] };
  trials: TrialSummary[];
  /** The best trial so far (the winner when done): the highest rung's best by the objective. */
  best?: Finalist;
  /** The default configuration, trained in the same search with the same budget as the winner. */
  default?: Finalist;
  /** The winner's relative gain over the default on the objective (validation). */
  gainOverDefault?: number;
  warnings: string[];
}

const OBJECTIVE_LABELS: Record<Objective, string> = {
  masked: "validation NDCG@10, all items ranked with the user's history masked (train-model's selectBy: masked)",
  full: "validation NDCG@10, all items ranked (train-model's selectBy: full)",
};

async function gatherRung(c: StoreContext, plan: TunePlan, members: RungMembers): Promise<Map<string, TrialResult | undefined>> {
  const results = new Map<string, TrialResult | undefined>();
  for (const id of members.trials) {
    const result = await getJson<TrialResult>(c.store, entryNames.result(c.name, id, members.rung), c.work);
    results.set(id, result && result.trial === id && result.rung === members.rung ? result : undefined);
  }
  return results;
}

/** The rung's best `count` by the objective (ties: the lower trial id), and the default when it is not among them. */
export function promote(plan: TunePlan, results: Map<string, TrialResult | undefined>, count: number): Omit<RungMembers, "rung"> {
  const ranked = [...results.values()]
    .filter((r): r is TrialResult => r?.status === "ok" && Number.isFinite(r.metric))
    .sort((a, b) => b.metric! - a.metric! || a.trial.localeCompare(b.trial));
  const promoted = ranked.slice(0, count).map((r) => r.trial);
  const defaultId = plan.trials.find((t) => t.isDefault)?.id;
  const reference = defaultId && !promoted.includes(defaultId) && ranked.some((r) => r.trial === defaultId) ? defaultId : undefined;
  return { trials: [...promoted, ...(reference ? [reference] : [])].sort(), promoted, reference };
}

function outcomeOf(plan: TunePlan, rung: number, result: TrialResult | undefined, next: RungMembers | undefined, id: string): RungOutcome {
  const epochs = plan.rungs[rung].epochs;
  const went: RungOutcome["next"] = next?.promoted.includes(id) ? "promoted" : next?.reference === id ? "reference" : undefined;
  const base = { rung, epochs, ...(went ? { next: went } : {}) };
  if (!result) return { ...base, status: "missing", error: "no result stored: the trial crashed or did not run" };
  if (result.status !== "ok") return { ...base, status: "failed", error: result.error };
  return { ...base, status: "ok", metric: result.metric, valid: result.valid };
}

function finalist(trial: PlannedTrial, result: TrialResult): Finalist {
  return {
    trial: trial.id,
    config: configYaml(trial.config),
    values: trial.values,
    rung: result.rung,
    epochs: result.epochs,
    ...(result.epochsTrained !== undefined && result.epochsTrained < result.epochs ? { epochsTrained: result.epochsTrained } : {}),
    metric: result.metric!,
    valid: result.valid!,
    ...(result.test ? { test: result.test } : {}),
  };
}

/** The best ok result on the highest rung that has one, and the default's highest ok result. */
function finalists(plan: TunePlan, all: Map<string, TrialResult | undefined>[]): { best?: Finalist; default?: Finalist } {
  const byId = new Map(plan.trials.map((t) => [t.id, t]));
  const defaultId = plan.trials.find((t) => t.isDefault)!.id;
  let best: Finalist | undefined;
  let reference: Finalist | undefined;
  for (let r = all.length - 1; r >= 0; r--) {
    const ok = [...all[r].values()].filter((x): x is TrialResult => x?.status === "ok");
    ok.sort((a, b) => b.metric! - a.metric! || a.trial.localeCompare(b.trial));
    if (!best && ok.length > 0) best = finalist(byId.get(ok[0].trial)!, ok[0]);
    const d = ok.find((x) => x.trial === defaultId);
    if (!reference && d) reference = finalist(byId.get(defaultId)!, d);
  }
  return { best, default: reference };
}

function summaries(plan: TunePlan, members: RungMembers[], all: Map<string, TrialResult | undefined>[]): TrialSummary[] {
  return plan.trials.map((t) => {
    const rungs = members
      .slice(0, all.length)
      .map((m, r) => (m.trials.includes(t.id) ? outcomeOf(plan, r, all[r].get(t.id), members[r + 1], t.id) : undefined))
      .filter((x): x is RungOutcome => x !== undefined);
    const last = rungs[rungs.length - 1];
    return {
      id: t.id,
      isDefault: t.isDefault,
      values: t.values,
      config: configYaml(t.config),
      rung: last.rung,
      ...(last.valid ? { valid: last.valid, metric: last.metric } : {}),
      rungs,
    };
  });
}

/**
 * select: gathers a rung's results (a missing one is a crashed trial, recorded), promotes the
 * best 1/eta by the objective to the next rung (with the default configuration carried along
 * as the reference) or, on the last rung, names the winner. The test split plays no part.
 */
export async function selectRung(c: StoreContext & { rung: number }): Promise<TuneReport> {
  const plan = await fetchPlan(c);
  if (!(Number.isInteger(c.rung) && c.rung >= 0 && c.rung < plan.rungs.length)) {
    throw new RecshipError(`rung ${c.rung} is not a rung of the search "${c.name}" (0 to ${plan.rungs.length - 1})`, {
      fix: "give select the rung its trials ran",
    });
  }
  const { members, all } = await gatherRungs(c, plan, c.rung);
  const current = all[c.rung];
  const warnings = rungWarnings(current, c.rung);
  if (![...current.values()].some((r) => r?.status === "ok")) {
    throw new RecshipError(`every trial of rung ${c.rung} of the search "${c.name}" failed or stored no result`, {
      fix: "read the trial jobs' logs (and the warnings above)",
    });
  }
  const done = c.rung === plan.rungs.length - 1;
  if (!done) {
    const next: RungMembers = { rung: c.rung + 1, ...promote(plan, current, plan.rungs[c.rung].promote) };
    await putJson(c.store, entryNames.rung(c.name, c.rung + 1), next, c.work);
    members.push(next);
    c.log.info(
      `rung ${c.rung}: ${next.promoted.join(", ")} promoted to rung ${c.rung + 1}` +
        (next.reference ? ` (and ${next.reference}, the default configuration, as the reference)` : ""),
    );
  }
  return reportOf(plan, c.rung, members, all, warnings);
}

/** Every rung's members and stored results, up to `rung`. */
async function gatherRungs(
  c: StoreContext,
  plan: TunePlan,
  rung: number,
): Promise<{ members: RungMembers[]; all: Map<string, TrialResult | undefined>[] }> {
  const members: RungMembers[] = [];
  const all: Map<string, TrialResult | undefined>[] = [];
  for (let r = 0; r <= rung; r++) {
    members.push(await rungMembers(c, plan, r));
    all.push(await gatherRung(c, plan, members[r]));
  }
  return { members, all };
}

function rungWarnings(results: Map<string, TrialResult | undefined>, rung: number): string[] {
  const warnings: string[] = [];
  for (const [id, result] of results) {
    if (!result) warnings.push(`trial ${id} stored no result on rung ${rung}: it crashed or did not run`);
    else if (result.status === "failed") warnings.push(`trial ${id} failed on rung ${rung}: ${result.error}`);
  }
  return warnings;
}

/**
 * The report of a search that ended without select (the asynchronous local mode, which wrote
 * each rung's members as it sent trials on): every rung up to `rung` (the highest with a
 * result), the winner the best there. Nothing is promoted or stored.
 */
export async function finishedReport(c: StoreContext & { rung: number }): Promise<TuneReport> {
  const plan = await fetchPlan(c);
  const { members, all } = await gatherRungs(c, plan, c.rung);
  const warnings = all.flatMap((results, r) => rungWarnings(results, r));
  if (c.rung < plan.rungs.length - 1) {
    const next = await getJson<RungMembers>(c.store, entryNames.rung(c.name, c.rung + 1), c.work);
    if (next) members.push(next);
    warnings.push(`no trial finished rung ${c.rung + 1} (the budget ran out, or they failed): the winner is rung ${c.rung}'s best`);
  }
  return reportOf(plan, c.rung, members, all, warnings, true);
}

function reportOf(
  plan: TunePlan,
  rung: number,
  members: RungMembers[],
  all: Map<string, TrialResult | undefined>[],
  warnings: string[],
  finished = false,
): TuneReport {
  const done = finished || rung === plan.rungs.length - 1;
  const { best, default: reference } = finalists(plan, all);
  const count = (r: number, status: RungOutcome["status"]) =>
    members[r].trials.filter((id) => (all[r].get(id)?.status ?? "missing") === status).length;
  const next = members[rung + 1];
  return {
    step: "tune",
    name: plan.name,
    objective: plan.objective,
    objectiveLabel: OBJECTIVE_LABELS[plan.objective],
    seed: plan.seed,
    sampler: plan.sampler,
    eta: plan.eta,
    rungs: members.map((m) => ({
      rung: m.rung,
      epochs: plan.rungs[m.rung].epochs,
      trials: m.trials,
      promoted: members[m.rung + 1]?.promoted ?? [],
      ...(members[m.rung + 1]?.reference ? { reference: members[m.rung + 1].reference } : {}),
      ok: m.rung <= rung ? count(m.rung, "ok") : 0,
      failed: m.rung <= rung ? count(m.rung, "failed") : 0,
      missing: m.rung <= rung ? count(m.rung, "missing") : 0,
    })),
    selectedRung: rung,
    done,
    ...(next && !done ? { matrix: { include: next.trials.map((trial) => ({ trial, rung: next.rung })) } } : {}),
    trials: summaries(plan, members, all),
    ...(best ? { best } : {}),
    ...(reference ? { default: reference } : {}),
    ...(best && reference && reference.metric > 0 ? { gainOverDefault: best.metric / reference.metric - 1 } : {}),
    warnings: [...budgetFitWarnings(plan), ...cutShort(best, reference), ...warnings],
  };
}

/** Says when the winner or the default trained fewer epochs than their rung's: they are then not judged at one budget. */
function cutShort(best: Finalist | undefined, reference: Finalist | undefined): string[] {
  const short = [best, reference].filter((f): f is Finalist => f?.epochsTrained !== undefined);
  if (short.length === 0 || best?.trial === reference?.trial) return [];
  const said = short.map(
    (f) => `${f === reference ? "the default " : ""}${f.trial} trained ${f.epochsTrained} of rung ${f.rung}'s ${f.epochs} epochs`,
  );
  return [`${said.join(", ")} (the budget or early stopping): the winner and the default are not judged at the same budget`];
}

/** What the local search's budget did to the plan's rungs (plan.budgetFit), for the report. */
function budgetFitWarnings(plan: TunePlan): string[] {
  const fit = plan.budgetFit;
  if (!fit) return [];
  return [
    `the budget set the rungs to epochs ${epochList(plan.rungs)} (${fit.asked.join(", ")} asked) at the pace of the trials going on after rung ${fit.afterRung}, ${Math.round(fit.pace.secondsPerEpoch)} s an epoch a trial` +
      (fit.fits ? "" : ": even those did not fit, so the last rung's trials may have stopped early"),
  ];
}

/** The first rung's matrix, as plan emits it. */
export function firstMatrix(plan: TunePlan): { include: { trial: string; rung: number }[] } {
  return { include: plan.trials.map((t) => ({ trial: t.id, rung: 0 })) };
}
