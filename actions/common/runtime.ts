import * as core from "@actions/core";
import { isRecshipError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { OptionSource } from "../../shared/util/option-spec.js";

/** The library's Logger on top of @actions/core: groups, annotations, plain lines. */
export function actionLogger(): Logger {
  return {
    info: (message) => core.info(message),
    warn: (message, where) => core.warning(message, where?.file ? { file: where.file, startLine: where.line } : undefined),
    group: (title, fn) => core.group(title, fn),
  };
}

export function input(name: string): string | undefined {
  const v = core.getInput(name);
  return v === "" ? undefined : v;
}

/** The action's inputs, for a step's OptionReader. */
export const inputSource: OptionSource = { get: input, where: (name) => `input ${name}`, frontEnd: "action" };

export function booleanInput(name: string): boolean {
  const v = core.getInput(name).trim().toLowerCase();
  return v === "true" || v === "yes" || v === "1";
}

/**
 * Runs an action body: a user's mistake (RecshipError) fails the step with an annotation
 * and no stack trace; anything else is a bug and fails with its stack.
 */
export async function runAction(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (isRecshipError(error)) {
      core.error(error.message, { title: "recship" });
      core.setFailed(error.message);
    } else {
      core.setFailed(`recship crashed (a bug, please report it): ${(error as Error)?.stack ?? String(error)}`);
    }
  }
}
