import { describe, expect, it } from 'vitest';
import { requestAttributes } from './request-attributes';
import type { KubernetesUser } from './request-header';
import { SubjectAccessReviewer, subjectAccessReviewSpec, type SubjectAccessReviewSpec, type SubjectAccessReviewStatus } from './subject-access-review';

const jane: KubernetesUser = { name: 'jane', groups: ['devs', 'system:authenticated'], extra: {} };
const NS = '/apis/mesh.portolan.dev/v1alpha1/namespaces/default';

describe('subjectAccessReviewSpec', () => {
  it.each<[string, KubernetesUser, string, string, SubjectAccessReviewSpec]>([
    [
      'a patch of one object',
      jane,
      'PATCH',
      `${NS}/ratelimitpolicies/x`,
      { user: 'jane', groups: ['devs', 'system:authenticated'], resourceAttributes: { group: 'mesh.portolan.dev', version: 'v1alpha1', resource: 'ratelimitpolicies', namespace: 'default', name: 'x', verb: 'patch' } },
    ],
    [
      'a watch across namespaces leaves out the empty namespace and name',
      { name: 'system:serviceaccount:ci:deployer', uid: 'u-1', groups: [], extra: { 'authentication.kubernetes.io/pod-name': ['ci-0'] } },
      'GET',
      '/apis/mesh.portolan.dev/v1alpha1/timeoutpolicies?watch=true',
      {
        user: 'system:serviceaccount:ci:deployer',
        uid: 'u-1',
        extra: { 'authentication.kubernetes.io/pod-name': ['ci-0'] },
        resourceAttributes: { group: 'mesh.portolan.dev', version: 'v1alpha1', resource: 'timeoutpolicies', verb: 'watch' },
      },
    ],
    ['discovery', jane, 'GET', '/openapi/v3', { user: 'jane', groups: ['devs', 'system:authenticated'], nonResourceAttributes: { path: '/openapi/v3', verb: 'get' } }],
  ])('%s', (_case, user, method, url, expected) => {
    expect(subjectAccessReviewSpec(user, requestAttributes(method, url))).toEqual(expected);
  });
});

/** An API that answers from a table and counts what it was asked. */
function fakeApi(answer: (spec: SubjectAccessReviewSpec) => SubjectAccessReviewStatus | Error) {
  const asked: SubjectAccessReviewSpec[] = [];
  return {
    asked,
    api: {
      createSubjectAccessReview: async (spec: SubjectAccessReviewSpec) => {
        asked.push(spec);
        await new Promise((resolve) => setImmediate(resolve));
        const result = answer(spec);
        if (result instanceof Error) throw result;
        return result;
      },
    },
  };
}

describe('SubjectAccessReviewer', () => {
  const get = requestAttributes('GET', `${NS}/ratelimitpolicies/x`);
  const patch = requestAttributes('PATCH', `${NS}/ratelimitpolicies/x`);

  it('keeps an answer 10 seconds, allowed or denied, as k8s.io/apiserver\'s delegating authorizer does', async () => {
    const clock = { now: 0 };
    const { api, asked } = fakeApi((spec) => ({ allowed: spec.resourceAttributes?.verb === 'get' }));
    const reviewer = new SubjectAccessReviewer(api, { now: () => clock.now });
    expect(await reviewer.review(jane, get)).toEqual({ allowed: true, cached: false });
    expect(await reviewer.review(jane, patch)).toEqual({ allowed: false, cached: false });
    clock.now = 9_999;
    expect(await reviewer.review(jane, get)).toMatchObject({ allowed: true, cached: true });
    expect(await reviewer.review(jane, patch)).toMatchObject({ allowed: false, cached: true });
    expect(asked).toHaveLength(2);
    clock.now = 10_000;
    expect(await reviewer.review(jane, get)).toMatchObject({ allowed: true, cached: false });
    expect(await reviewer.review(jane, patch)).toMatchObject({ allowed: false, cached: false });
    expect(asked).toHaveLength(4);
  });

  it('asks again for another user, group or object: the whole review is the cache key', async () => {
    const { api, asked } = fakeApi(() => ({ allowed: true }));
    const reviewer = new SubjectAccessReviewer(api);
    await reviewer.review(jane, get);
    await reviewer.review({ ...jane, groups: ['devs'] }, get);
    await reviewer.review({ ...jane, name: 'joe' }, get);
    await reviewer.review(jane, requestAttributes('GET', `${NS}/ratelimitpolicies/y`));
    expect(asked).toHaveLength(4);
  });

  it('asks once for a burst of identical requests', async () => {
    const { api, asked } = fakeApi(() => ({ allowed: true }));
    const reviewer = new SubjectAccessReviewer(api);
    const answers = await Promise.all([1, 2, 3].map(() => reviewer.review(jane, get)));
    expect(answers.every((answer) => answer.allowed)).toBe(true);
    expect(asked).toHaveLength(1);
  });

  it('passes the authorizer\'s reason on', async () => {
    const { api } = fakeApi(() => ({ allowed: false, denied: true, reason: 'policy forbids patches on Fridays' }));
    expect(await new SubjectAccessReviewer(api).review(jane, patch)).toEqual({ allowed: false, reason: 'policy forbids patches on Fridays', cached: false });
  });

  it('fails when the API cannot be asked, and caches nothing, so the next request asks again', async () => {
    let down = true;
    const { api, asked } = fakeApi(() => (down ? new Error('ECONNREFUSED') : { allowed: true }));
    const reviewer = new SubjectAccessReviewer(api);
    await expect(reviewer.review(jane, get)).rejects.toThrow('ECONNREFUSED');
    down = false;
    expect(await reviewer.review(jane, get)).toEqual({ allowed: true, cached: false });
    expect(asked).toHaveLength(2);
  });

  it('allows system:masters without asking, as kube-apiserver always would', async () => {
    const { api, asked } = fakeApi(() => ({ allowed: false }));
    expect(await new SubjectAccessReviewer(api).review({ name: 'system:kube-aggregator', groups: ['system:masters'], extra: {} }, patch)).toMatchObject({ allowed: true });
    expect(asked).toHaveLength(0);
  });

  it('stays bounded however many distinct requests it sees', async () => {
    const { api } = fakeApi(() => ({ allowed: true }));
    const reviewer = new SubjectAccessReviewer(api, { maxEntries: 2 });
    for (const name of ['a', 'b', 'c']) await reviewer.review(jane, requestAttributes('GET', `${NS}/ratelimitpolicies/${name}`));
    expect(await reviewer.review(jane, requestAttributes('GET', `${NS}/ratelimitpolicies/a`))).toMatchObject({ cached: false });
    expect(await reviewer.review(jane, requestAttributes('GET', `${NS}/ratelimitpolicies/c`))).toMatchObject({ cached: true });
  });
});
