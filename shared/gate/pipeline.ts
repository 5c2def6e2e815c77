import { join } from "node:path";
import type { BaselineStore, SaveResult } from "../cache/baseline-store.js";
import { RecshipError } from "../errors.js";
import { writeBaselinePackage } from "./baseline-package.js";
import { metricValues, runGate, type GateOptions, type GateOutcome } from "./gate.js";

export interface PipelineOptions extends Omit<GateOptions, "baseline" | "baselineOrigin" | "modelName"> {
  modelName: string;
  /** An explicit baseline folder: wins over the store. */
  baseline?: string;
  store?: BaselineStore;
  /** Branches to look for a stored baseline on, first found wins. */
  compareBranches: string[];
  /** Store the candidate as the new baseline when it passes. */
  save?: { branch: string };
  /** Without a baseline, fail instead of passing as a first run. */
  requireBaseline?: boolean;
  commit?: string;
  runUrl?: string;
  /** Scratch folder (the baseline package is assembled here before it is stored). */
  workDir: string;
}

export interface PipelineOutcome extends GateOutcome {
  saved?: SaveResult;
}

/**
 * The whole step: find the baseline (explicit folder, else the store's newest for the
 * branches given), run the gate, and store the candidate as the new baseline when asked and
 * it passed. A baseline that cannot be restored is a warning and a first run, unless
 * `requireBaseline`.
 */
export async function gateWithBaseline(options: PipelineOptions): Promise<PipelineOutcome> {
  const { log } = options;
  let baseline = options.baseline;
  let origin = options.baseline ? `the folder ${options.baseline}` : undefined;
  const restoreProblems: string[] = [];
  if (!baseline && options.store) {
    for (const branch of options.compareBranches) {
      try {
        const restored = await options.store.restore({ model: options.modelName, branch });
        if (restored) {
          baseline = restored.dir;
          origin = restored.origin;
          log.info(`baseline restored from ${restored.origin}`);
          break;
        }
        log.info(`no stored baseline for ${options.modelName} on ${branch} in ${options.store.description}`);
      } catch (error) {
        const message = `could not restore the baseline for ${options.modelName} on ${branch} from ${options.store.description}: ${(error as Error).message}`;
        restoreProblems.push(message);
        log.warn(message);
      }
    }
  }
  if (!baseline && options.requireBaseline) {
    throw new RecshipError(`no baseline to compare with${restoreProblems.length ? ` (${restoreProblems.join("; ")})` : ""}`, {
      fix: "run the gate on the baseline branch once to store one, pass an explicit baseline, or turn require-baseline off",
    });
  }
  const outcome = await runGate({ ...options, baseline, baselineOrigin: origin });
  outcome.report.warnings.push(...restoreProblems);
  if (!baseline) {
    outcome.report.notes.unshift(
      options.store
        ? `No baseline was stored yet for model "${options.modelName}" on ${options.compareBranches.join(" or ") || "this branch"}: this run passes and ${options.save ? "stores the candidate as the baseline" : "stores nothing"}.`
        : "No baseline was given: this run passes without comparing.",
    );
  }

  let saved: SaveResult | undefined;
  if (options.save && options.store) {
    if (!outcome.report.passed) {
      saved = { saved: false, reason: "the gate failed: a regressing model is never stored as the baseline" };
      log.info(`not storing the baseline: ${saved.reason}`);
    } else {
      const dir = join(options.workDir, "recship-baseline-package");
      await writeBaselinePackage(dir, {
        source: outcome.candidate,
        modelName: options.modelName,
        branch: options.save.branch,
        commit: options.commit,
        runUrl: options.runUrl,
        data: outcome.data,
        evaluation: outcome.candidateEvaluation,
        metrics: metricValues(outcome.candidateEvaluation, options.rules.cutoffs),
      });
      try {
        saved = await options.store.save({ model: options.modelName, branch: options.save.branch }, dir);
      } catch (error) {
        saved = { saved: false, reason: (error as Error).message };
      }
      if (saved.saved)
        log.info(`stored the candidate as the new baseline for ${options.modelName} on ${options.save.branch} (${saved.key})`);
      else log.warn(`the new baseline was not stored: ${saved.reason}`);
    }
  }
  return { ...outcome, saved };
}
