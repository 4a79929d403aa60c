// A small typed client over the generated types: if the OpenAPI document stops
// describing these operations, their bodies or their envelopes, this stops compiling.
import type { components, paths } from "./tessera-api";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Profile = components["schemas"]["Profile"];
type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];
type LoginBody = Json<NonNullable<paths["/api/v1/auth/login"]["post"]["requestBody"]>>;
type LoginOk = Json<paths["/api/v1/auth/login"]["post"]["responses"]["200"]>;
type MeOk = Json<paths["/api/v1/users/me"]["get"]["responses"]["200"]>;
type Unauthorized = Json<paths["/api/v1/users/me"]["get"]["responses"]["401"]>;
type Notifications = Json<paths["/api/v1/notifications"]["get"]["responses"]["200"]>;

export async function logIn(api: string, body: LoginBody): Promise<string> {
  const response = await fetch(`${api}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const failure = (await response.json()) as ErrorEnvelope;
    throw new Error(`${failure.error.code}: ${failure.error.message}`);
  }
  const ok = (await response.json()) as LoginOk;
  return ok.data?.access_token ?? "";
}

export async function me(api: string, token: string): Promise<Profile | string> {
  const response = await fetch(`${api}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (response.status === 401) {
    const failure = (await response.json()) as Unauthorized;
    return failure.error.code;
  }
  const ok = (await response.json()) as MeOk;
  if (!ok.data) throw new Error("no profile");
  const profile: Profile = ok.data;
  return profile;
}

export async function unreadCount(api: string, token: string): Promise<number> {
  const response = await fetch(`${api}/api/v1/notifications?unread=true&limit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const page = (await response.json()) as Notifications;
  return page.pagination.total_items;
}
