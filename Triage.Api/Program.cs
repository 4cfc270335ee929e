using Triage.Api;

return await TriageHost.RunAsync(args);
