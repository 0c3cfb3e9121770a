/** Jest globalTeardown: remove the run's temporary folder (see globalSetup). */
const { rmSync } = require('node:fs');

module.exports = async function globalTeardown() {
  const dir = process.env.EXO_TEST_TMPDIR;
  if (dir) rmSync(dir, { recursive: true, force: true });
};
