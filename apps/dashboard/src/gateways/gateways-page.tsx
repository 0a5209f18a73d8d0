export function GatewaysPage() {
  return <h1>GatewaysPage</h1>;
}
