/**
 * Jest reporter: a test file that runs long says so while it runs. Jest's default reporter prints
 * a file's results only when the whole file is done, so a file of many real-PowerShell tests can
 * be silent for minutes. Every `intervalMs` this prints, for each file running longer than that,
 * one line on stderr: "[tests] still running <file>: N tests done, M failed, 95 s".
 * Plain CommonJS, as jest loads reporters before ts-jest is set up.
 */
const { relative } = require('node:path');

class ProgressReporter {
  constructor(globalConfig, options = {}) {
    this.rootDir = globalConfig.rootDir;
    this.intervalMs = options.intervalMs ?? 30_000;
    this.write = options.write ?? ((text) => process.stderr.write(text));
    this.now = options.now ?? Date.now;
    this.running = new Map();
    this.timer = undefined;
  }

  onRunStart() {
    if (this.intervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref?.();
    }
  }

  onTestFileStart(test) {
    this.running.set(test.path, { started: this.now(), done: 0, failed: 0 });
  }

  onTestCaseResult(test, result) {
    const file = this.running.get(test.path);
    if (!file) return;
    file.done += 1;
    if (result.status === 'failed') file.failed += 1;
  }

  onTestFileResult(test) {
    this.running.delete(test.path);
  }

  onRunComplete() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One line per file running longer than the interval. */
  tick() {
    const now = this.now();
    for (const [path, file] of this.running) {
      const elapsed = now - file.started;
      if (elapsed < this.intervalMs) continue;
      this.write(
        `[tests] still running ${relative(this.rootDir, path)}: ${file.done} test(s) done, ` +
          `${file.failed} failed, ${Math.round(elapsed / 1000)} s\n`,
      );
    }
  }

  getLastError() {
    return undefined;
  }
}

module.exports = ProgressReporter;
