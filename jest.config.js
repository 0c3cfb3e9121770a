/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Sources import siblings as './x.js' where Node's ESM rules require it; jest resolves the .ts file.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // PowerShell-backed and end-to-end tests start real processes; give them room but keep a bound.
  testTimeout: 60000,
  // Two cores: run suites in two workers so the PowerShell engine hosts do not starve each other.
  maxWorkers: 2,
  globalSetup: '<rootDir>/test/support/globalSetup.js',
  globalTeardown: '<rootDir>/test/support/globalTeardown.js',
  // A long test file says how far it is every 30 s, instead of printing nothing until it ends.
  reporters: ['default', '<rootDir>/test/support/progressReporter.js'],
};
