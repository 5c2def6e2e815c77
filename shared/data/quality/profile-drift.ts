import { existsSync } from "node:fs";
import { join } from "node:path";
import { driftChecks, type CheckResult } from "./checks.js";
import { loadPolicy, type CheckName, type ValidationPolicy } from "./policy.js";
import { driftFigures, LENGTH_EDGES, PROFILE_FILE, type DataProfile, type DriftFigures } from "./profile.js";
import { readProfile } from "./validate-log.js";

/** One side of a comparison: which data-profile.json, and the data it describes. */
interface ProfileFacts {
  file: string;
  createdAt: string;
  /** The log it profiles (as given to train-model or validate-data) and its sha256. */
  data: string;
  sha256: string;
  rows: number;
  users: number;
  items: number;
}

/** Drift from one data profile to another, from the two profiles alone. */
export interface ProfileDrift {
  now: ProfileFacts;
  before: ProfileFacts;
  /** The drift checks (new-items skipped: it needs the log). */
  checks: CheckResult[];
  /** The checks that warned or failed, in policy order. */
  drifted: CheckName[];
  figures: DriftFigures;
  /** Lower edges of the history-length buckets (the charts' categories). */
  lengthEdges: number[];
}

function facts(p: { profile: DataProfile; from: string }): ProfileFacts {
  const { profile } = p;
  return {
    file: p.from,
    createdAt: profile.createdAt,
    data: profile.source.file,
    sha256: profile.source.sha256,
    rows: profile.rows,
    users: profile.users,
    items: profile.items,
  };
}

/** The data profile a bundle (or a stored baseline) holds; none for one written before profiles existed. */
export async function bundleProfile(dir: string): Promise<{ profile: DataProfile; from: string } | undefined> {
  return existsSync(join(dir, PROFILE_FILE)) ? readProfile(dir) : undefined;
}

/**
 * The drift checks between two profiles: what benchmark-gate can say about the candidate's
 * training data against the baseline's without reading either log. Items outside a profile's
 * top 1000 count as 0 here, so popularity drift is measured over the top items and "the rest".
 */
export function compareProfiles(
  now: { profile: DataProfile; from: string },
  before: { profile: DataProfile; from: string },
  policy: ValidationPolicy = loadPolicy(undefined),
): ProfileDrift {
  const figures = driftFigures(now.profile, before.profile);
  const checks = driftChecks(policy, figures);
  return {
    now: facts(now),
    before: facts(before),
    checks,
    drifted: checks.filter((c) => c.status === "warn" || c.status === "error").map((c) => c.name),
    figures,
    lengthEdges: LENGTH_EDGES,
  };
}
