/**
 * The Linux backend (nftables + iproute2 over SSH). Its render, apply and session live beside this file.
 */
import type { Backend } from "../backends";
import type { Plan } from "../plan/plan";
import type { Spec } from "../spec/schema";

export async function linuxBackend(_spec: Spec, _plan: Plan): Promise<Backend> {
  throw new Error("target.linux: the Linux backend is not part of this build yet");
}
