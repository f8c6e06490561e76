/** Models from the Hugging Face Hub: `hf:` sources, the shared hub cache, downloads. */
export { pullModel } from './pull';
export type { PullOptions, PullResult } from './pull';
export { listCachedModels, removeCachedModel } from './manage';
export type { CachedModel, RemoveResult } from './manage';
export { hubCacheDir, hubSettings } from './settings';
export type { HubOptions, HubSettings } from './settings';
export { isHubSource, parseHubSource } from './source';
export type { HubSource } from './source';
export type { DownloadProgress } from './download';
