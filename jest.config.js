/** @type {import('jest').Config} */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // Integration suites start servers and namespaces; run files one at a time on a 2-core machine.
  maxWorkers: 1,
  // The SDK loads the provider by package name (as in production); in tests that is the source.
  moduleNameMapper: {
    "^pulumi-loadbalanced-gateway/provider$": "<rootDir>/provider/index.ts",
    "^pulumi-loadbalanced-gateway$": "<rootDir>/sdk/index.ts",
  },
  testTimeout: 60000,
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false } }] },
};
