import { RecshipError } from "../errors.js";
import { httpStatus, type GitHubClient } from "./client.js";
import { githubError, type RepoRef } from "./sticky-issue.js";

export interface WorkflowDispatch {
  /** The workflow's file name (train.yml) or numeric id. */
  workflow: string;
  /** The branch or tag it runs on. */
  ref: string;
  /** Its workflow_dispatch inputs. */
  inputs: Record<string, string>;
}

/**
 * Starts a workflow run through its workflow_dispatch trigger (POST
 * /repos/{owner}/{repo}/actions/workflows/{id}/dispatches). GitHub answers 204 and starts the
 * run shortly after; a workflow without the trigger, an unknown input or ref is its 422.
 */
export async function dispatchWorkflow(client: GitHubClient, at: RepoRef, d: WorkflowDispatch): Promise<void> {
  const workflow = /^\d+$/.test(d.workflow) ? Number(d.workflow) : d.workflow;
  try {
    await client.rest.actions.createWorkflowDispatch({ ...at, workflow_id: workflow, ref: d.ref, inputs: d.inputs });
  } catch (error) {
    if (httpStatus(error) === 422) {
      throw new RecshipError(`GitHub refused to start workflow ${d.workflow} on ${d.ref}: ${(error as Error).message.split("\n")[0]}`, {
        where: `${at.owner}/${at.repo}`,
        fix: "the workflow needs an `on: workflow_dispatch` trigger declaring every input given, and the ref must exist",
      });
    }
    throw githubError(error, `start workflow ${d.workflow}`, at, "actions: write");
  }
}
