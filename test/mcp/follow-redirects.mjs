// $BROWSER for the conformance suite: its authorization server approves at once (302 to the client's
// redirect_uri), so following the redirects plays the person and lands on loginkit's loopback listener.
const url = process.argv.at(-1);
let next = new URL(url);
for (let hop = 0; hop < 10; hop++) {
  const response = await fetch(next, { redirect: 'manual' });
  await response.arrayBuffer().catch(() => undefined);
  const location = response.headers.get('location');
  if (response.status < 300 || response.status >= 400 || !location) break;
  next = new URL(location, next);
}
