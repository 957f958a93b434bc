/**
 * Layers of the code (`npm run lint` checks them with dependency-cruiser):
 *   cli ─▶ agent, api ─▶ pipelines (stages), storage ─▶ meeting (domain records, shared state),
 *   config, logging, metrics
 * An arrow points the only way imports may go. src/local and src/replay are test and demo tooling:
 * nothing that ships imports them.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'a cycle has no layer order', from: {}, to: { circular: true } },
    {
      name: 'no-tooling-in-product',
      severity: 'error',
      comment: 'src/local and src/replay are test/demo tooling, compiled out of the image',
      from: { path: '^src/', pathNot: ['^src/(local|replay)/', '\\.test\\.ts$'] },
      to: { path: '^src/(local|replay)/' },
    },
    {
      name: 'no-dev-deps-in-product',
      severity: 'error',
      comment: 'the runtime image installs dependencies only (npm ci --omit=dev)',
      from: { path: '^src/', pathNot: ['^src/(local|replay)/', '\\.test\\.ts$'] },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'domain-imports-no-stage',
      severity: 'error',
      comment: 'meeting/ holds the records and state every role shares; it knows no stage or role',
      from: { path: '^src/meeting/' },
      to: { path: '^src/(pipelines|storage|agent|api|cli)/' },
    },
    {
      name: 'stages-import-no-role',
      severity: 'error',
      comment: 'pipelines/ and storage/ are used by the roles (agent, api, cli), never the reverse',
      from: { path: '^src/(pipelines|storage)/' },
      to: { path: '^src/(agent|api|cli)/' },
    },
    {
      name: 'roles-are-independent',
      severity: 'error',
      comment: 'the agent, the API and the CLI share code through the lower layers, not each other',
      from: { path: '^src/(agent|api)/' },
      to: { path: '^src/(agent|api|cli)/', pathNot: '^src/$1/' },
    },
    {
      name: 'storage-below-pipelines',
      severity: 'error',
      comment: 'storage writes and erases objects; the stages call it',
      from: { path: '^src/storage/' },
      to: { path: '^src/pipelines/' },
    },
    {
      name: 'base-imports-nothing-above',
      severity: 'error',
      comment: 'config, logging and metrics sit under every layer',
      from: { path: '^src/[^/]+\\.ts$', pathNot: '^src/cli\\.ts$' },
      to: { path: '^src/[^/]+/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
