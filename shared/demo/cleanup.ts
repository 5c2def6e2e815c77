import type { Logger } from "../log.js";

/**
 * What must be undone however a run ends (shoppers to stop, servers to tear down): tasks run
 * newest first, each once, every one even when an earlier one fails. `run()` can be called
 * from a `finally` and from a signal handler alike; the second call waits for the first.
 */
export class Cleanup {
  private readonly tasks: { name: string; fn: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  add(name: string, fn: () => Promise<void>): void {
    this.tasks.push({ name, fn });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.tasks.length) {
        const task = this.tasks.pop()!;
        try {
          await task.fn();
        } catch (error) {
          this.log.warn(`cleanup: ${task.name} failed (${(error as Error).message})`);
        }
      }
    })();
    const done = this.running;
    // tasks added after a run (a new stage) get a run of their own
    void done.then(() => {
      if (this.running === done) this.running = undefined;
    });
    return done;
  }
}
