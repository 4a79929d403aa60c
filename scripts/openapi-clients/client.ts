// A small typed client over the generated types: if the OpenAPI document stops describing
// these operations, their bodies or their envelopes, this stops compiling. It reads `data`
// as the document promises it, required and never null: no `!`, no `?.`, no cast, no check.
import type { components, paths } from "./tessera-api";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Profile = components["schemas"]["Profile"];
type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];
type LoginBody = Json<paths["/api/v1/auth/login"]["post"]["requestBody"]>;
type LoginOk = Json<paths["/api/v1/auth/login"]["post"]["responses"]["200"]>;
type LoginRefused = Json<paths["/api/v1/auth/login"]["post"]["responses"]["401"]>;
type MeOk = Json<paths["/api/v1/users/me"]["get"]["responses"]["200"]>;
type FilesOk = Json<paths["/api/v1/files"]["get"]["responses"]["200"]>;
type FileView = FilesOk["data"][number];

// `Response.json()` is `any`: each body is given its documented type by annotation.
export class ApiError extends Error {
  constructor(readonly status: number, readonly envelope: ErrorEnvelope) {
    super(`${envelope.error.code}: ${envelope.error.message}`);
  }
}

async function failure(response: Response): Promise<ApiError> {
  const envelope: ErrorEnvelope = await response.json();
  return new ApiError(response.status, envelope);
}

export async function logIn(api: string, body: LoginBody): Promise<string> {
  const response = await fetch(`${api}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status === 401) {
    const refused: LoginRefused = await response.json();
    throw new ApiError(401, refused);
  }
  if (!response.ok) throw await failure(response);
  const ok: LoginOk = await response.json();
  if ("mfa_required" in ok.data) {
    // Two-factor sign-in: finish with POST /api/v1/auth/mfa/verify {ticket, code}.
    throw new Error("a second factor is required");
  }
  return ok.data.access_token;
}

export async function me(api: string, token: string): Promise<Profile> {
  const response = await fetch(`${api}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw await failure(response);
  const ok: MeOk = await response.json();
  return ok.data;
}

export async function myFiles(api: string, token: string): Promise<{ names: string[]; total: number }> {
  const response = await fetch(`${api}/api/v1/files?limit=100`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw await failure(response);
  const page: FilesOk = await response.json();
  const names = page.data.map((file: FileView) => `${file.original_name} (${file.size_bytes} bytes)`);
  return { names, total: page.pagination.total_items };
}

// What a frontend shows for a failed call: the error code, and the field at fault if any.
export function explain(error: ApiError): string {
  const { code, field } = error.envelope.error;
  return field ? `${code} (${field})` : code;
}
