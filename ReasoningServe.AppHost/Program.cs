Console.WriteLine("ReasoningServe.AppHost: not implemented yet (issue 5).");
