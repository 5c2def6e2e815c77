/** A Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [field: string]: unknown;
}

interface KubeMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
  [field: string]: unknown;
}

/** Which object: enough to read or delete it. */
export interface KubeRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take over fields that other managers own instead of failing with a conflict. */
  force: boolean;
  /** Server-side dry run: the answer is the object as it would be, nothing is stored. */
  dryRun: boolean;
}

/**
 * The little of the Kubernetes API the deployer uses. `clientNodeKube` implements it with
 * @kubernetes/client-node; tests may run it against the API emulator or fake it outright.
 */
export interface KubeClient {
  /** The API server's URL, for messages. */
  readonly server: string;
  /** The kubeconfig context's namespace, else "default". */
  readonly defaultNamespace: string;
  /** Server-side apply (PATCH application/apply-patch+yaml); answers the stored (or dry-run) object. */
  apply(object: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  /** The live object, or undefined when there is none. */
  get(ref: KubeRef): Promise<KubeObject | undefined>;
  /** Deletes (background propagation); false when there was nothing to delete. */
  delete(ref: KubeRef): Promise<boolean>;
  list(
    apiVersion: string,
    kind: string,
    namespace: string,
    selectors?: { labelSelector?: string; fieldSelector?: string },
  ): Promise<KubeObject[]>;
  /** Whether the cluster serves this kind (a CRD such as HTTPRoute may be missing). */
  serves(apiVersion: string, kind: string): Promise<boolean>;
}

/** An API request the server refused: the HTTP status and the Status object's reason and causes. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
    readonly causes: { field?: string; message?: string; reason?: string }[] = [],
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/** A typed manifest (kubernetes-models' interfaces check the fields at compile time) as a plain KubeObject. */
export function asKubeObject<T extends { apiVersion: string; kind: string; metadata?: { name?: string } }>(object: T): KubeObject {
  return object as unknown as KubeObject;
}

export function refOf(object: KubeObject): KubeRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: object.metadata.namespace ?? "",
    name: object.metadata.name,
  };
}

export function describeRef(ref: KubeRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}
