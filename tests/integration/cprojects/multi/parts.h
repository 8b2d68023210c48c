#pragma once
int alpha();
int beta();
int gamma_();
