import * as vscode from 'vscode';
import { isAzureBaseURL } from '../core/providers/azure';
import type { Profile } from '../core/profiles';
import type { Config } from './config';
import type { Engine } from './engine';
import { selectChatModels } from './lmModel';
import type { Log } from './log';
import type { Secrets } from './secrets';

const SECTION = 'fastllm';

/**
 * *FastLLM: Select Profile…* and *FastLLM: Select Model…*. Each takes an optional argument (the
 * profile name, `''` for none; the model id) that skips the quick pick, for keybindings and tests.
 */
export class ProfileCommands {
  constructor(
    private readonly config: Config,
    private readonly secrets: Secrets,
    private readonly engine: Engine,
    private readonly log: Log,
  ) {}

  /** Sets `fastllm.profile`; resolves with the chosen name (`''` = none), or undefined when cancelled. */
  async selectProfile(name?: unknown): Promise<string | undefined> {
    const choice = this.config.profileChoice;
    for (const problem of choice.problems) this.log.warn(`Profiles: ${problem}`);
    let picked: string | undefined;
    if (typeof name === 'string') {
      picked = name.trim();
      if (picked && !choice.profiles.some((p) => p.name === picked)) {
        void vscode.window.showErrorMessage(`FastLLM: no profile named "${picked}" in fastllm.profiles.`);
        return undefined;
      }
    } else {
      type Item = vscode.QuickPickItem & { profile: string };
      const current = choice.active?.name ?? '';
      const items: Item[] = [
        { label: '$(settings) No profile', description: current === '' ? 'active' : undefined, detail: `The fastllm.* settings: ${this.plainEndpoint()}`, profile: '' },
        ...choice.profiles.map((p) => ({
          label: `${p.kind === 'vscode-lm' ? '$(sparkle)' : '$(server)'} ${p.name}`,
          description: [p.name === current ? 'active' : '', p.kind].filter(Boolean).join(' · '),
          detail: `${p.kind === 'vscode-lm' ? `VS Code language models${p.vendor ? ` of ${p.vendor}` : ''}` : p.baseUrl}${p.model || p.deployment ? ` · model ${p.deployment ?? p.model}` : ''}`,
          profile: p.name,
        })),
      ];
      const pick = await vscode.window.showQuickPick(items, {
        title: 'FastLLM: Select Profile',
        placeHolder: choice.profiles.length ? 'The endpoint runs go to (profiles are defined in the fastllm.profiles setting)' : 'No profiles yet: add some to the fastllm.profiles setting',
      });
      if (!pick) return undefined;
      picked = pick.profile;
    }
    const cfg = vscode.workspace.getConfiguration(SECTION);
    const seen = cfg.inspect<string>('profile');
    // Where the value is set now, so that the pick takes effect (a workspace value hides the user's).
    const target =
      vscode.workspace.isTrusted && seen?.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : vscode.workspace.isTrusted && seen?.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await cfg.update('profile', picked || undefined, target);
    this.log.info(`Profile: ${picked || '(none)'}.`);
    return picked;
  }

  /**
   * Sets the model of the active profile (its `model`; Azure: its `deployment`), or `fastllm.model`
   * without a profile. The list comes from the profile's `/models` (Azure: its deployments; VS Code
   * models: `vscode.lm.selectChatModels`); when it cannot be listed the user types the name.
   */
  async selectModel(model?: unknown): Promise<string | undefined> {
    const profile = this.config.activeProfile;
    let picked = typeof model === 'string' && model.trim() ? model.trim() : undefined;
    if (!picked) picked = await this.pickModel(profile);
    if (!picked) return undefined;
    if (profile) await this.updateProfile(profile, picked);
    else await vscode.workspace.getConfiguration(SECTION).update('model', picked, vscode.ConfigurationTarget.Global);
    this.log.info(`Model${profile ? ` of profile ${profile.name}` : ''}: ${picked}.`);
    return picked;
  }

  private plainEndpoint(): string {
    return vscode.workspace.getConfiguration(SECTION).get<string>('baseUrl', 'https://api.openai.com/v1');
  }

  private async pickModel(profile: Profile | undefined): Promise<string | undefined> {
    const current = this.config.model;
    let ids: string[];
    let where: string;
    let failure: string | undefined;
    try {
      if (profile?.kind === 'vscode-lm') {
        const models = await selectChatModels({ ...profile, model: undefined });
        ids = models.map((m) => m.id);
        where = `VS Code language models${profile.vendor ? ` of ${profile.vendor}` : ''}`;
      } else {
        const baseUrl = profile?.baseUrl ?? this.config.baseUrl;
        const listed: Profile = profile ?? { name: '(none)', kind: isAzureBaseURL(baseUrl) ? 'azure' : 'openai-compatible', baseUrl };
        where = baseUrl;
        const apiKey = (await this.secrets.get(this.config.baseUrl)) ?? '';
        ids = await this.engine.load().listModels(listed, { apiKey, headers: this.config.extraHeaders });
      }
    } catch (e) {
      ids = [];
      where = profile?.baseUrl ?? this.config.baseUrl;
      failure = this.log.mask((e as Error).message);
      this.log.warn(`Could not list the models: ${failure}`);
    }
    if (ids.length === 0) {
      const typed = await vscode.window.showInputBox({
        title: 'FastLLM: Select Model',
        prompt: failure ? `Could not list the models (${failure}). Type the model${profile?.kind === 'azure' ? ' deployment' : ''} name:` : `No models listed by ${where}. Type the model name:`,
        value: current,
      });
      return typed?.trim() || undefined;
    }
    const pick = await vscode.window.showQuickPick(
      ids.map((id) => ({ label: id, description: id === current ? 'current' : undefined })),
      { title: `FastLLM: Select Model${profile ? ` (profile ${profile.name})` : ''}`, placeHolder: `Models of ${where}` },
    );
    return pick?.label;
  }

  /** Writes the model into the profile's entry, in the settings layer that defines it. */
  private async updateProfile(profile: Profile, model: string): Promise<void> {
    const cfg = vscode.workspace.getConfiguration(SECTION);
    const seen = cfg.inspect<unknown>('profiles');
    const has = (raw: unknown) =>
      Array.isArray(raw) ? raw.some((p) => (p as { name?: unknown })?.name === profile.name) : !!raw && typeof raw === 'object' && profile.name in raw;
    const inWorkspace = vscode.workspace.isTrusted && has(seen?.workspaceValue);
    const raw = inWorkspace ? seen?.workspaceValue : seen?.globalValue;
    if (!has(raw)) throw new Error(`profile "${profile.name}" is not in the settings any more`);
    const key = profile.kind === 'azure' ? 'deployment' : 'model';
    const patch = (p: unknown) => ({ ...(p as object), [key]: model });
    const updated = Array.isArray(raw)
      ? raw.map((p) => ((p as { name?: unknown })?.name === profile.name ? patch(p) : p))
      : { ...(raw as Record<string, unknown>), [profile.name]: patch((raw as Record<string, unknown>)[profile.name]) };
    await cfg.update('profiles', updated, inWorkspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);
  }
}
