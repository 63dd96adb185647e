// The audit commands a guided tour runs (`fleet demo`), handed to it by main.ts: a command never
// imports another, the program wires them.
export interface AuditCommands {
  auditKeygen(outFile: string, name: string, out: (s: string) => void, scopes?: string): number;
  auditShow(file: string | undefined, f: { custody?: boolean }, out: (s: string) => void): Promise<number>;
  auditVerify(
    file: string | undefined,
    o: { checkpoints?: string | string[]; scopes?: string; env?: NodeJS.ProcessEnv },
    out: (s: string) => void,
  ): Promise<number>;
  /** the reviewer's HTML page (`fleet demo --report FILE`); handed in only when asked for */
  reportCmd?(
    instances: string[],
    o: {
      scopes: string;
      auditDir: string;
      window: string;
      out: string;
      grants: boolean;
      checkpoints: string[];
      command: string;
    },
    out: (s: string) => void,
  ): Promise<number>;
}
