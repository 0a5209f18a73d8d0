export function GatewayPage() {
  return <h1>GatewayPage</h1>;
}
