// ESLint's recommended rules for the page's modules (static/*.js, browser globals) and their unit tests here
// (Node globals). Run from the repository's root (npm run lint does): paths are from there.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import globals from 'globals';

export default defineConfig([
  {
    ignores: ['tests/js/node_modules/'],
  },
  {
    files: ['static/*.js', 'tests/js/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.browser } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'smart'],
      'prefer-const': 'error',
    },
  },
  {
    files: ['tests/js/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
]);
