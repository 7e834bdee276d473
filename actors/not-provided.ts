/**
 * The stand-in a pure machine declares for an effect its `*.logic.ts` provides: running the bare
 * machine with it throws, naming what is missing and where it comes from.
 */
export function notProvided(name: string, file: string): () => never {
  return () => {
    throw new Error(`${name} is provided by ${file}`);
  };
}
