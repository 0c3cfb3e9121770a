import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Adapter folders: each wraps one technology; none may import another (the composition root joins them). */
const ADAPTERS = ['saasManager', 'exchange', 'identity', 'claims', 'runRecords', 'certificates', 'queue'];
const PRODUCT = ['functions/**/*.ts', 'cli/**/*.ts', 'shared/**/*.ts', 'sandbox/**/*.ts'];
const TEST_CODE = {
  group: ['**/test/**', '../test', '../../test', '**/*.test', '**/*.test.ts'],
  message:
    'product code never imports test code (what the CLI and the bench share with tests lives in sandbox/)',
};

export default tseslint.config(
  {
    ignores: ['dist/**', '.bench/**', 'node_modules/**', '.tools/**', 'coverage/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // The type-checked rules need the whole program (seconds per file); the arrows test, which only
  // asks about imports, turns them off with EXO_LINT_ARROWS_ONLY=1. `npm run lint` always has them.
  ...(process.env.EXO_LINT_ARROWS_ONLY === '1'
    ? []
    : [
        {
          files: ['**/*.ts'],
          extends: [...tseslint.configs.recommendedTypeChecked],
          languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        },
      ]),
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // The arrows: product -> never test; the use case -> ports only; adapter -> never another adapter.
  { files: PRODUCT, rules: { 'no-restricted-imports': ['error', { patterns: [TEST_CODE] }] } },
  {
    // The use cases: the sweep, verify and undo (issue 17).
    files: ['shared/sweep/**/*.ts', 'shared/verify/**/*.ts', 'shared/undo/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            TEST_CODE,
            {
              group: [...ADAPTERS.map((adapter) => `../${adapter}/*`), '../composition', '../config'],
              message:
                'a use case (sweep, verify, undo) imports ports, never adapters, config or the composition root',
            },
          ],
        },
      ],
    },
  },
  ...ADAPTERS.map((adapter) => ({
    files: [`shared/${adapter}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            TEST_CODE,
            {
              group: [
                ...ADAPTERS.filter((other) => other !== adapter).map((other) => `../${other}/*`),
                '../composition',
                '../sweep/*',
                '../verify/*',
                '../undo/*',
              ],
              message: 'an adapter never imports another adapter, the use case or the composition root',
            },
          ],
        },
      ],
    },
  })),
  {
    // Test doubles implement async ports without awaiting anything, and jest's matchers are typed `any`.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
