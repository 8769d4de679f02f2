struct X;
